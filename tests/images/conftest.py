"""Image fixtures: build through labstack (cached layers make this seconds when already built), then boot."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from labstack import LabstackError
from labstack.builder import BuildSettings, build_spec
from labstack.engine import client
from labstack.naming import Naming
from labstack.smoke import remove_stray_containers


def settings_from_environment() -> BuildSettings:
    """The same environment variables build.py reads, so `make test` builds what `make build-*` built."""
    layer_args, layer_files = {}, {}
    if os.environ.get("LABSTACK_WITHOUT_RSTUDIO") == "1":
        layer_args["rstudio"] = {"INSTALL_RSTUDIO": "0"}
    if os.environ.get("LABSTACK_RSTUDIO_DEB"):
        layer_files["rstudio"] = [Path(os.environ["LABSTACK_RSTUDIO_DEB"])]
    ca_bundle = os.environ.get("LABSTACK_CA_BUNDLE")
    return BuildSettings(
        naming=Naming.from_environment(),
        base_image=os.environ.get("BASE_IMAGE", "debian:bookworm-slim"),
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        network=os.environ.get("LABSTACK_NETWORK", "host"),
        layer_args=layer_args,
        layer_files=layer_files,
    )


@pytest.fixture(scope="session")
def engine():
    try:
        engine = client()
    except LabstackError as error:
        pytest.fail(f"image tests need a Docker Engine: {error}")
    yield engine
    left = remove_stray_containers()
    assert left == 0, f"{left} labstack container(s) were left behind by a test"


@pytest.fixture(scope="session")
def image(engine, request):
    """image(spec) -> the main tag of spec, built now if needed, with build progress on the terminal."""
    built: dict[str, str] = {}
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def get(spec: str) -> str:
        if spec not in built:
            with capture.global_and_fixture_disabled():
                result = build_spec(spec, settings_from_environment(), log)
            built[spec] = result[-1].tags[0]
        return built[spec]

    return get
