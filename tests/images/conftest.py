"""Image fixtures: build through labstack (cached layers make this seconds when already built), then boot."""
from __future__ import annotations

import os
from dataclasses import replace
import sys
from pathlib import Path

import pytest

from labstack import LabstackError
from labstack.builder import BuildSettings, build_spec
from labstack.engine import client
from labstack.layers import rstudio_hooks
from labstack.naming import Naming
from labstack.smoke import remove_stray_containers


# Test builds get their own tag, so a test (which may bundle a test extension) never replaces an image
# a user built; the layers themselves are shared through the build cache.
TEST_TAG = os.environ.get("LABSTACK_TEST_TAG", "smoke")


def settings_from_environment(extra_files: dict[str, list[Path]] | None = None) -> BuildSettings:
    """The same environment variables build.py reads, so tests build what `make build-*` builds."""
    layer_args: dict[str, dict[str, str]] = {}
    layer_files: dict[str, list[Path]] = dict(extra_files or {})
    rstudio_deb = Path(os.environ["LABSTACK_RSTUDIO_DEB"]) if os.environ.get("LABSTACK_RSTUDIO_DEB") else None
    without_rstudio = os.environ.get("LABSTACK_WITHOUT_RSTUDIO") == "1" and not rstudio_deb
    if without_rstudio or rstudio_deb:
        layer_args["rstudio"], files = rstudio_hooks(without_rstudio, rstudio_deb)
        layer_files.setdefault("rstudio", []).extend(files)
    ca_bundle = os.environ.get("LABSTACK_CA_BUNDLE")
    return BuildSettings(
        # only the test tag: a version tag would make a test build (with a test extension) look released
        naming=replace(Naming.from_environment(tag=TEST_TAG), version_tag=""),
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
    """image(spec, extra_files) -> the main tag of spec, built now if needed, progress on the terminal."""
    built: dict[tuple, str] = {}
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def get(spec: str, extra_files: dict[str, list[Path]] | None = None) -> str:
        key = (spec, tuple(sorted((k, tuple(v)) for k, v in (extra_files or {}).items())))
        if key not in built:
            with capture.global_and_fixture_disabled():
                result = build_spec(spec, settings_from_environment(extra_files), log)
            built[key] = result[-1].tags[0]
        return built[key]

    return get
