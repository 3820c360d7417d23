"""Measured versions and Debian bases: what build.py turns into labels and tags, and which base debootstrap
makes when no registry answers."""
import subprocess

import pytest

from labstack import LabstackError
from labstack.baseimage import apt_sources, bootstrap_tag, debian_suite
from labstack.graph import Version, images_dir, load_graph
from labstack.tags import version_tags
from labstack.versions import measure_script, parse_measured, versions_of

GRAPH = load_graph(images_dir())


def test_every_layer_declares_what_it_installs():
    names = {spec: [v.name for v in versions_of([s.layer for s in GRAPH.plan(spec)])]
             for spec in ("base", "rstudio", "rstudio+code-server")}
    assert names["base"] == ["python", "jupyterlab", "jupyter-server-proxy", "jupyterhub", "debian"]
    assert names["rstudio"][-4:] == ["r", "irkernel", "shiny-server", "rstudio-server"]
    assert names["rstudio+code-server"][-2:] == ["code-server", "node"]


def test_measure_script_prints_one_line_per_component_and_survives_a_failing_command():
    versions = [Version("ok", "echo 1.2.3; echo second-line"), Version("broken", "exit 3"),
                Version("quoted", "printf '%s\\n' \"4.5.0\"")]
    output = subprocess.run(["sh", "-c", measure_script(versions)], capture_output=True, text=True, timeout=30).stdout
    assert output.splitlines() == ["ok=1.2.3", "broken=", "quoted=4.5.0"]
    with pytest.raises(LabstackError, match=r"cannot measure the broken version of img:1: `exit 3` printed ''"):
        parse_measured(output, versions, "img:1")
    assert parse_measured(output, versions[:1] + versions[2:], "img:1") == {"ok": "1.2.3", "quoted": "4.5.0"}


def test_a_version_that_is_no_version_is_refused():
    with pytest.raises(LabstackError, match="printed 'R version 4.5.0'"):
        parse_measured("r=R version 4.5.0\n", [Version("r", "R --version")], "img:1")


def test_version_tags_follow_docker_stacks_and_skip_what_is_absent():
    versions = [Version("r", "", tag="r"), Version("python", "", tag="python"), Version("node", ""),
                Version("rstudio-server", "", tag="rstudio")]
    measured = {"r": "4.5.0", "python": "3.13.5", "node": "24.19.0", "rstudio-server": "none"}
    assert version_tags("reg:5000/labstack/rstudio", measured, versions) == [
        "reg:5000/labstack/rstudio:r-4.5.0", "reg:5000/labstack/rstudio:python-3.13.5"]
    assert version_tags("x/y", {"r": "4.5.0+dfsg~1"}, versions[:1]) == ["x/y:r-4.5.0-dfsg-1"]


@pytest.mark.parametrize("ref, suite", [("debian:trixie-slim", "trixie"), ("debian:13", "trixie"),
                                        ("debian:bookworm-slim", "bookworm"), ("debian:12-slim", "bookworm"),
                                        ("debian:bookworm@sha256:" + "0" * 64, "bookworm"),
                                        ("debian:bullseye", None), ("ubuntu:24.04", None)])
def test_debootstrap_stands_in_for_trixie_and_bookworm(ref, suite):
    assert debian_suite(ref) == suite


def test_each_suite_gets_its_own_bootstrap_tag_and_sources():
    assert bootstrap_tag() == "labstack/debian:trixie-debootstrap"
    assert bootstrap_tag("bookworm") == "labstack/debian:bookworm-debootstrap"
    sources = apt_sources("bookworm").splitlines()
    assert sources == ["deb http://deb.debian.org/debian bookworm main",
                       "deb http://deb.debian.org/debian bookworm-updates main",
                       "deb http://deb.debian.org/debian-security bookworm-security main"]


def test_the_default_base_is_trixie_in_the_code_and_in_the_dockerfile():
    from labstack.baseimage import DEFAULT_BASE_IMAGE
    from labstack.pins import pinned

    assert DEFAULT_BASE_IMAGE == "debian:trixie-slim" == pinned("base")["BASE_IMAGE"]
