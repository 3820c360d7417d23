"""A layer's knowledge lives in its folder: one added in a folder of its own (with its app and its flag)
shows in `list`, `profiles`, `bake` and the flag table, with no edit anywhere else."""
import json
import shutil

import yaml

from labstack import REPO_ROOT

LAYER_TOML = """name = "julia"
parent = "base"
description = "Julia with IJulia"

[[apps]]
name = "pluto"
title = "Pluto"
default_url = "/pluto/"
marker = "Pluto.jl"
process = "[P]luto.run"

[[flags]]
flag = "--julia-sysimage"
kind = "file"
build_args = { JULIA_SYSIMAGE = "staged" }
help = "a prebuilt Julia system image to bundle"
"""


def _with_layer(tmp_path, toml: str):
    images = tmp_path / "images"
    shutil.copytree(REPO_ROOT / "images", images)
    (images / "julia").mkdir()
    (images / "julia" / "image.toml").write_text(toml)
    (images / "julia" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    return images


def test_a_new_layer_needs_no_edit_elsewhere(build_py, tmp_path):
    images = _with_layer(tmp_path, LAYER_TOML)
    env = {"LABSTACK_IMAGES_DIR": str(images)}

    # what the shared image tests read of an app: its landing, its marker and its processes
    from labstack.graph import load_graph

    pluto = [app for app in load_graph(images).apps("julia") if app.name == "pluto"]
    assert [(app.route, app.default_url, app.marker, app.process) for app in pluto] == [
        ("/pluto/", "/pluto/", "Pluto.jl", "[P]luto.run")]

    listed = build_py("list", env_extra=env)
    assert listed.returncode == 0 and any(line.split()[:2] == ["julia", "base"] for line in listed.stdout.splitlines())

    profiles = yaml.safe_load(build_py("profiles", "julia", env_extra=env).stdout)["singleuser"]["profileList"]
    assert profiles[0]["kubespawner_override"]["image"] == "labstack/julia:latest"
    assert "Pluto at /pluto/" in profiles[0]["description"] and "JupyterLab" in profiles[0]["description"]

    baked = build_py("bake", "julia", "--no-host-ca", env_extra=env)
    assert baked.returncode == 0, baked.stderr
    targets = json.loads(baked.stdout)["target"]
    assert targets["julia"]["dockerfile"].endswith("julia/Dockerfile")
    assert targets["julia"]["contexts"] == {"labstack-parent-base": "target:base"}  # parent and chain root

    help_text = build_py("build", "--help", env_extra=env).stdout
    assert "--julia-sysimage FILE" in help_text and "a prebuilt Julia system image" in help_text
    sysimage = tmp_path / "sys.so"
    sysimage.write_bytes(b"x")
    baked = build_py("bake", "julia", "--no-host-ca", "--julia-sysimage", str(sysimage), env_extra=env)
    assert json.loads(baked.stdout)["target"]["julia"]["args"]["JULIA_SYSIMAGE"] == "staged"


def test_an_app_without_a_marker_is_refused_in_one_line(build_py, tmp_path):
    images = _with_layer(tmp_path, LAYER_TOML.replace('marker = "Pluto.jl"\n', ""))
    listed = build_py("list", env_extra={"LABSTACK_IMAGES_DIR": str(images)})
    assert listed.returncode == 2 and listed.stderr.count("\n") == 1
    assert "julia/image.toml: an [[apps]] entry needs 'marker'" in listed.stderr, listed.stderr
