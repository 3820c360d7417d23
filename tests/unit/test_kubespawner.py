"""The profiles `build.py profiles` writes, checked by KubeSpawner's own code (no cluster needed): each
profile and each choice selected as the hub selects them (form data -> options_from_form ->
load_user_options), with Zero-to-JupyterHub's chart defaults applied."""
import asyncio
import os
from unittest import mock

import pytest
import yaml
from traitlets.config import Config

from labstack.graph import images_dir, load_graph
from labstack.testing.plan import app_specs, profile_selections

pytest.importorskip("kubespawner", reason="jupyterhub-kubespawner is not installed (pip install -r requirements-dev.txt)")

# Zero-to-JupyterHub's defaults for what a profile does not set (values.yaml of the chart).
Z2JH_DEFAULTS = {"cmd": ["jupyterhub-singleuser"], "uid": 1000, "fs_gid": 100, "start_timeout": 300}
GRAPH = load_graph(images_dir())
SPECS = app_specs(GRAPH)  # every image with an app besides JupyterLab, as the layers declare them
REGISTRY = ["--registry", "registry.example.org:5000", "--owner", "ds", "--tag", "2026.11"]


def new_spawner(user_name="alice", config=None):
    """KubeSpawner(_mock=True) in a running event loop, its cluster client replaced by nothing."""
    import kubespawner.spawner as spawner_module
    from kubespawner import KubeSpawner

    user = mock.Mock()
    user.name = user.escaped_name = user_name
    user.id, user.url = 1, f"/user/{user_name}/"
    with mock.patch.object(spawner_module, "load_config", lambda **kwargs: None), \
            mock.patch.object(spawner_module, "shared_client", lambda *args, **kwargs: mock.MagicMock()):
        return KubeSpawner(_mock=True, user=user, config=config or Config(), **Z2JH_DEFAULTS)


def run(coroutine_function):
    return asyncio.run(coroutine_function())


@pytest.fixture
def profiles(build_py):
    result = build_py("profiles", *SPECS, *REGISTRY)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["singleuser"]["profileList"]


def selections(profiles):
    """(profile, form data, override applied) for every profile and every choice of its options."""
    for profile in profiles:
        options = profile.get("profile_options", {})
        if not options:
            yield profile, {"profile": [profile["slug"]]}, profile["kubespawner_override"]
        for name, option in options.items():
            for choice, value in option["choices"].items():
                form = {"profile": [profile["slug"]], f"profile-option-{profile['slug']}--{name}": [choice]}
                yield profile, form, value["kubespawner_override"]


def test_every_profile_and_choice_gives_what_labstack_meant(profiles):
    checked = []

    async def check():
        for profile, form, override in selections(profiles):
            spawner = new_spawner()
            spawner.profile_list = profiles
            spawner.user_options = spawner.options_from_form(form)
            await spawner.load_user_options()
            for key in override:  # a misspelled key would be set silently and do nothing
                assert spawner.has_trait(key), f"{profile['slug']}: {key} is not a KubeSpawner setting"
            assert spawner.image == override["image"] and spawner.image.startswith("registry.example.org:5000/ds/")
            assert spawner.default_url == override["default_url"]
            # the chart's default (the images run it), or the command that serves an app alone
            expected_cmd = override.get("cmd", ["jupyterhub-singleuser"])
            assert spawner.cmd == expected_cmd
            manifest = await spawner.get_pod_manifest()
            container = manifest.spec.containers[0]
            assert container.image == override["image"]
            assert container.args[:len(expected_cmd)] == expected_cmd
            # KubeSpawner builds the security contexts as plain dicts: the chart's uid and fsGroup
            assert manifest.spec.security_context == {"fsGroup": 100}
            assert container.security_context == {"runAsUser": 1000, "allowPrivilegeEscalation": False}
            checked.append(form)

    run(check)
    assert len(checked) == profile_selections(GRAPH, SPECS)  # one per image, per chooser app, per app alone
    assert len(checked) >= len(SPECS) + 5  # today: three images, four apps to choose, VS Code alone


def test_the_app_chooser_is_rendered_in_the_spawn_form(profiles):
    async def form():
        spawner = new_spawner()
        spawner.profile_list = profiles
        return await spawner.get_options_form()

    html = run(form)
    chooser = next(p for p in profiles if p.get("profile_options"))
    for choice in chooser["profile_options"]["app"]["choices"].values():
        assert choice["display_name"] in html
    assert "Choose an app" in html and "VS Code alone (no notebook server)" in html


def test_the_image_pre_puller_finds_every_image(profiles):
    # Zero-to-JupyterHub's pre-puller reads only these two places of a profile
    found = {p["kubespawner_override"]["image"] for p in profiles if "kubespawner_override" in p}
    found |= {c["kubespawner_override"]["image"] for p in profiles for o in p.get("profile_options", {}).values()
              for c in o["choices"].values() if "image" in c.get("kubespawner_override", {})}
    assert found == {f"registry.example.org:5000/ds/{GRAPH.plan(spec)[-1].image}:2026.11" for spec in SPECS}
    assert {"code-server", "rstudio", "rstudio-code-server"} <= {GRAPH.plan(spec)[-1].image for spec in SPECS}


def test_a_migrated_image_is_offered_to_its_owner_only(build_py, profiles):
    result = build_py("profiles", "--owner-only", "alice", "registry.example.org:5000/ds/alice:1")
    assert result.returncode == 0, result.stderr
    snippet = yaml.safe_load(result.stdout)["hub"]["extraConfig"]["labstack-owner-only"]
    config = Config()
    config.KubeSpawner.profile_list = profiles  # what the chart sets from singleuser.profileList
    exec(compile(snippet, "hub.extraConfig", "exec"), {"c": config})

    async def form(user):
        spawner = new_spawner(user, config)
        return await spawner.get_options_form()

    for user, offered in (("alice", True), ("bob", False)):
        html = run(lambda: form(user))
        assert ("alice&#39;s VS Code (migrated)" in html or "alice's VS Code (migrated)" in html) == offered, user
        assert "Choose an app" in html  # the shared profiles stay


def test_the_chart_network_policy_stays_on_with_ingress_from_hub_and_proxy_only(build_py):
    """What a user starts may listen on every address: the values keep the chart's singleuser policy on,
    opening no port and no other namespace beside the hub and proxy it always admits; and no profile
    changes the pod labels that policy selects user pods by."""
    values = yaml.safe_load(build_py("profiles", *SPECS, *REGISTRY).stdout)
    assert values["singleuser"]["networkPolicy"] == {"enabled": True, "ingress": [], "allowedIngressPorts": [],
                                                     "interNamespaceAccessLabels": "ignore"}
    for profile, _, override in selections(values["singleuser"]["profileList"]):
        assert not {"extra_labels", "common_labels"} & set(override), (profile["slug"], override)


def test_restricted_pods_are_what_kubespawner_writes_into_the_manifest(build_py):
    """`profiles --restricted`: the container's securityContext of Restricted Pod Security and /tmp an
    emptyDir, as KubeSpawner puts them into the pod manifest beside the chart's home volume."""
    values = yaml.safe_load(build_py("profiles", *SPECS, *REGISTRY, "--restricted").stdout)
    config = Config()
    config.KubeSpawner.container_security_context = values["hub"]["config"]["KubeSpawner"]["container_security_context"]
    storage = values["singleuser"]["storage"]
    config.KubeSpawner.volumes = [{"name": "home", "emptyDir": {}}, *storage["extraVolumes"]]
    config.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}, *storage["extraVolumeMounts"]]

    async def manifest():
        spawner = new_spawner(config=config)
        spawner.image = "labstack/code-server:latest"
        return await spawner.get_pod_manifest()

    pod = run(manifest)
    context = pod.spec.containers[0].security_context
    context = context if isinstance(context, dict) else context.to_dict()
    assert context["runAsUser"] == 1000 and context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {mount["mountPath"] if isinstance(mount, dict) else mount.mount_path for mount in pod.spec.containers[0].volume_mounts}
    assert {"/home/jovyan", "/tmp"} <= mounts


def test_restricted_is_refused_for_a_migrated_image_in_one_line(build_py):
    result = build_py("profiles", "--owner-only", "alice", "registry.example.org/ds/alice:1", "--restricted")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("build.py: error: --restricted with --owner-only") and result.stderr.count("\n") == 1
