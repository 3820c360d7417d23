"""The image graph emitted as a buildx bake file and as Zero-to-JupyterHub profiles."""
import json
import yaml


def output(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bake_chains_combination_through_named_contexts(build_py):
    bake = json.loads(output(build_py("bake", "rstudio+code-server", "--tag", "t1",
                               "--ca-bundle", "/etc/ssl/certs/ca-certificates.crt")))
    assert bake["group"]["default"]["targets"] == ["base", "rstudio", "rstudio-code-server"]
    combo = bake["target"]["rstudio-code-server"]
    assert combo["dockerfile"] == "images/code-server/Dockerfile"
    assert combo["args"]["BASE_IMAGE"] == "labstack-parent-rstudio"
    assert combo["args"]["BUILDER_IMAGE"] == "labstack-parent-base"
    assert combo["contexts"] == {"labstack-parent-rstudio": "target:rstudio",
                                 "labstack-parent-base": "target:base"}
    assert combo["tags"][0] == "labstack/rstudio-code-server:t1"
    assert combo["secret"] == ["id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt"]
    assert bake["target"]["base"]["args"]["BASE_IMAGE"] == "debian:trixie-slim"
    assert "contexts" not in bake["target"]["base"]


def test_bake_file_points_at_a_declared_layers_staged_files(build_py):
    """buildx reads the bake file after build.py has exited: what each target names is there."""
    from labstack import REPO_ROOT

    bake = json.loads(output(build_py("bake", "dashboard", "--tag", "t1")))
    dockerfile = REPO_ROOT / bake["target"]["dashboard"]["dockerfile"]
    assert dockerfile.is_file(), dockerfile
    copied = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("COPY")]
    assert copied and all((REPO_ROOT / source).exists() for source in copied), copied


def test_bake_file_has_no_network_key_buildx_013_would_refuse(build_py):
    result = build_py("bake", "code-server", "--network", "host")
    bake = json.loads(output(result))
    assert all("network" not in target for target in bake["target"].values())
    assert "--driver-opt network=host" in result.stderr  # said once, not silently dropped


def test_profiles_point_at_registry_tags(build_py):
    values = yaml.safe_load(output(build_py("profiles", "code-server", "rstudio+code-server",
                                     "--registry", "localhost:5000", "--tag", "2026.11")))
    profiles = values["singleuser"]["profileList"]
    chooser = profiles.pop()  # the app chooser comes last (tests/unit/test_kubespawner.py checks it)
    assert chooser["slug"] == "apps" and "kubespawner_override" not in chooser
    assert [p["kubespawner_override"]["image"] for p in profiles] == [
        "localhost:5000/labstack/code-server:2026.11",
        "localhost:5000/labstack/rstudio-code-server:2026.11"]
    assert profiles[0]["default"] is True and "default" not in profiles[1]
    assert "VS Code" in profiles[1]["description"] and "RStudio" in profiles[1]["description"]
