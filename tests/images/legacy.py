"""The legacy-style code-server image (tests/fixtures/legacy-code-server), shared by tests and bench."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from labstack import REPO_ROOT
from labstack.builder import BuildSettings
from labstack.engine import BuildRequest, build
from labstack.vsix import make_vsix

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "legacy-code-server"
EXTENSION_ID = "legacy-test.probe"


def build_legacy_image(tag: str, base_ref: str, code_server_image: str, settings: BuildSettings) -> str:
    with tempfile.TemporaryDirectory(prefix="labstack-legacy-") as tmp:
        context = Path(tmp)
        shutil.copytree(FIXTURE, context, dirs_exist_ok=True)
        make_vsix(context / "legacy.vsix", "legacy-test", "probe")
        build(BuildRequest(dockerfile=context / "Dockerfile", context=context, tags=[tag],
                           build_args={"BASE_IMAGE": base_ref, "CODE_SERVER_IMAGE": code_server_image},
                           ca_bundle=settings.ca_bundle, network=settings.network), lambda line: None)
    return tag
