"""Image fixtures: build through labstack (cached layers make this seconds when already built), then boot."""
from __future__ import annotations

import os
from dataclasses import replace
import sys
from pathlib import Path

import pytest

from labstack import LabstackError
from labstack.builder import BuildSettings, build_spec, host_ca_bundle
from labstack.engine import BuildFailed
from labstack.engine import client
from labstack.layers import rstudio_hooks
from labstack.naming import Naming
from labstack.containers import remove_stray_containers


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
    ca_bundle = os.environ.get("LABSTACK_CA_BUNDLE") or (
        None if os.environ.get("LABSTACK_NO_HOST_CA") == "1" else host_ca_bundle())
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
    volumes_before = {volume.name for volume in engine.volumes.list()}
    yield engine
    left = remove_stray_containers()
    assert left == 0, f"{left} labstack container(s) were left behind by a test"
    new_volumes = {volume.name for volume in engine.volumes.list()} - volumes_before
    assert not new_volumes, f"volume(s) left behind by a test: {sorted(new_volumes)}"


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
                built[key] = build_with_fallback(spec, extra_files, log, request.config)
        return built[key]

    return get


def build_with_fallback(spec: str, extra_files, log, config) -> str:
    """Build spec as the environment says. Where RStudio Server can't be downloaded and nobody chose
    (no LABSTACK_WITHOUT_RSTUDIO, no LABSTACK_RSTUDIO_DEB), build the rstudio layer without it, as the
    tests of every other part of that image still mean something, and say so in the summary."""
    chose = os.environ.get("LABSTACK_WITHOUT_RSTUDIO") == "1" or os.environ.get("LABSTACK_RSTUDIO_DEB")
    try:
        return build_spec(spec, settings_from_environment(extra_files), log)[-1].tags[0]
    except BuildFailed as error:
        if chose or "cannot download RStudio Server" not in str(error):
            raise
        config.stash[RSTUDIO_FALLBACK] = str(error)
        os.environ["LABSTACK_WITHOUT_RSTUDIO"] = "1"  # for this run's later builds and build.py calls
        return build_spec(spec, settings_from_environment(extra_files), log)[-1].tags[0]


RSTUDIO_FALLBACK = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.stash.get(RSTUDIO_FALLBACK, None):
        terminalreporter.write_line(
            "labstack: RStudio Server could not be downloaded, so the rstudio tests ran on the image built "
            "without it (its own probes skipped); to test it, pass the .deb: LABSTACK_RSTUDIO_DEB=FILE make test",
            yellow=True, bold=True)
