"""Zero-to-JupyterHub without a cluster: the profiles `build.py profiles` writes, in a real JupyterHub
whose spawner is KubeSpawner (its own code for the spawn form, profile options and pod manifest, with
the chart's defaults) and whose kubelet is the local engine (tests/support/podsim.py). This is the
closest thing to a cluster that runs here.

Every profile and every choice is spawned through the hub's spawn form, as a person does (one person
per choice, all at once, as a class arriving does); the pod's
container runs as the manifest says (the chart's `jupyterhub-singleuser` instead of the image's CMD,
uid 1000, fsGroup 100, an empty home volume, and `build.py profiles --restricted`'s Restricted Pod
Security: no privilege escalation, no capabilities, a read-only root with /tmp an emptyDir), and the
app the profile lands on
answers through the hub for its owner and refuses another user; on one domain and on per-user
subdomains (realhub.LAYOUTS).
"""
import time
import uuid

import pytest
import requests

from labstack.containers import remove_stray_containers

from tracked import session_filter
from labstack.engine import image_labels
from labstack.hub import profile_list, restricted
from labstack.testing.plan import app_specs, profile_selections
from image_tests import GRAPH
from jupyter_container import poll_until
from realhub import LAYOUTS, api, login, running_hub, server_url, wait_until_ready, websocket_status

SPECS = app_specs(GRAPH)  # every image with an app besides JupyterLab
SELECTIONS = profile_selections(GRAPH, SPECS)  # images, apps to choose, and apps alone
PEOPLE = [f"user{index}" for index in range(SELECTIONS)]  # who spawns each selection; bob is refused them all

SPAWNER_CONFIG = """
import sys
sys.path.insert(0, {tests!r})
from podsim import DockerPodSpawner, Z2JH_DEFAULTS

c.JupyterHub.spawner_class = DockerPodSpawner
for _name, _value in Z2JH_DEFAULTS.items():
    setattr(c.KubeSpawner, _name, _value)
c.KubeSpawner.profile_list = {profiles!r}
# `build.py profiles --restricted`, as the chart hands it on: hub.config as it is, storage's extras beside the home
c.KubeSpawner.container_security_context = {security_context!r}
c.KubeSpawner.volumes = [*c.KubeSpawner.volumes, *{extra_volumes!r}]
c.KubeSpawner.volume_mounts = [*c.KubeSpawner.volume_mounts, *{extra_volume_mounts!r}]
# the chart's singleuser NetworkPolicy, from the values `build.py profiles` prints
c.DockerPodSpawner.network_policy = {network_policy!r}
c.KubeSpawner.events_enabled = False  # no cluster events to read
c.KubeSpawner.http_timeout = 180
"""

# What each landing page shows when its app answers, as the layers declare it ([[apps]] marker); an app that
# runs alone (standalone) lands on the server's root, and is known by the pod's cmd.
_APPS = GRAPH.apps()
LANDS_ON = {app.default_url: app.marker for app in _APPS}
ALONE = {app.standalone: app for app in _APPS if app.standalone}
WORKBENCH_MARKER = next(app.marker for app in _APPS if app.name == "vscode")  # its websocket is checked too


@pytest.fixture(scope="module")
def profiles(image, settings, engine):
    """`build.py profiles` for the three images, pointing at the images under test."""
    built = {settings.naming.tags(GRAPH.plan(spec)[-1].image)[0]: image(spec) for spec in SPECS}
    values = profile_list(GRAPH, SPECS, settings.naming)["singleuser"]["profileList"]
    for profile in values:
        for override in overrides(profile):
            override["image"] = built[override["image"]]
    return values


def overrides(profile):
    if "kubespawner_override" in profile:
        yield profile["kubespawner_override"]
    for option in profile.get("profile_options", {}).values():
        for choice in option["choices"].values():
            yield choice["kubespawner_override"]


def selections(profiles):
    """(name, spawn-form data, override) for every profile and every choice of its options."""
    for profile in profiles:
        if "kubespawner_override" in profile:
            yield profile["slug"], {"profile": profile["slug"]}, profile["kubespawner_override"]
        for name, option in profile.get("profile_options", {}).items():
            for choice, value in option["choices"].items():
                form = {"profile": profile["slug"], f"profile-option-{profile['slug']}--{name}": choice}
                yield f"{profile['slug']}:{choice}", form, value["kubespawner_override"]


@pytest.fixture(scope="module", params=LAYOUTS)
def hub(request, profiles, settings, engine, tmp_path_factory):
    pytest.importorskip("kubespawner", reason="jupyterhub-kubespawner is not installed (pip install -r requirements-dev.txt)")
    from podsim import POD_PREFIX, remove_claims

    from labstack import REPO_ROOT
    values = restricted({})
    storage = values["singleuser"]["storage"]
    config = SPAWNER_CONFIG.format(tests=str(REPO_ROOT / "tests" / "support"), profiles=profiles,
                                   security_context=values["hub"]["config"]["KubeSpawner"]["container_security_context"],
                                   extra_volumes=storage["extraVolumes"], extra_volume_mounts=storage["extraVolumeMounts"],
                                   network_policy=profile_list(GRAPH, SPECS, settings.naming)["singleuser"]["networkPolicy"])
    try:
        with running_hub(engine, tmp_path_factory.mktemp("z2jh"), config, users=(*PEOPLE, "bob"),
                         subdomains=request.param == "subdomains") as hub:
            for name in (*PEOPLE, "bob"):
                assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
            hub["sessions"] = {name: login(hub, name) for name in (*PEOPLE, "bob")}
            yield hub
    finally:
        remove_stray_containers(session_filter(), prefix=POD_PREFIX)
        remove_claims()


def post_the_spawn_form(hub, session: requests.Session, form: dict) -> None:
    """Post the spawn form as a browser does."""
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))  # not a server's
    response = session.post(f"{hub['public_url']}/hub/spawn", data={**form, "_xsrf": xsrf},
                            timeout=60, allow_redirects=False)
    assert response.status_code == 302, (response.status_code, response.text[:1000], hub["log"].read_text()[-3000:])


@pytest.fixture(scope="module")
def spawned(hub, profiles):
    """Every selection spawned through the form by a person of its own, all at once: {index: the seconds
    from the forms' posting until its server was seen ready (looked at in order: at most that long)}.
    Each test stops its own server; whatever is left stops here."""
    started = time.monotonic()
    for person, (_, form, _) in zip(PEOPLE, selections(profiles)):
        post_the_spawn_form(hub, hub["sessions"][person], form)
    seconds = {}
    for index, person in enumerate(PEOPLE):
        wait_until_ready(hub, person, timeout=300)
        seconds[index] = time.monotonic() - started
    yield seconds
    for person in PEOPLE:
        stop(hub, person)


def stop(hub, person):
    api(hub, "DELETE", f"/users/{person}/server")
    poll_until(lambda: not api(hub, "GET", f"/users/{person}").json()["servers"], 120, 1,
               lambda: f"{person}'s server did not stop:\n{hub['log'].read_text()[-2000:]}")


def has_rserver(image_ref) -> bool:
    # the label test_rstudio checks against the binary itself
    return image_labels(image_ref).get("io.labstack.rstudio-server.version", "none") != "none"


# Run in a pod: GET the URL, bounded to 5 s; what answered, or why nothing did.
CONNECT = r"""
import sys, urllib.request
try:
    print("ANSWERED " + urllib.request.urlopen(sys.argv[1], timeout=5).read(200).decode(errors="replace"))
except Exception as error:
    print("REFUSED " + type(error).__name__)
"""


def test_no_pod_reaches_what_another_person_started(spawned, engine):
    """The chart's policy as the values leave it (hub and proxy only): what the first person starts on
    every address (`python3 -m http.server`) answers in their own pod and no other person's pod."""
    from podsim import PODS_NETWORK, pod_container_name

    first, second = (engine.containers.get(pod_container_name(f"jupyter-{person}")) for person in PEOPLE[:2])
    marker = f"pod-{uuid.uuid4().hex[:8]}"
    first.exec_run(["sh", "-c", f"mkdir -p /tmp/served && echo {marker} > /tmp/served/m.txt && "
                                "cd /tmp/served && exec python3 -m http.server 8000"], user="1000", detach=True)
    poll_until(lambda: marker in first.exec_run(["python3", "-c", CONNECT, "http://127.0.0.1:8000/m.txt"]).output.decode(),
               30, 0.5, lambda: "http.server did not start in the first pod")
    first.reload()
    addresses = [n["IPAddress"] for n in first.attrs["NetworkSettings"]["Networks"].values() if n.get("IPAddress")]
    assert list(first.attrs["NetworkSettings"]["Networks"]) == [PODS_NETWORK], first.attrs["NetworkSettings"]["Networks"]
    for address in addresses:
        answer = second.exec_run(["timeout", "20", "python3", "-c", CONNECT, f"http://{address}:8000/m.txt"], user="1000")
        assert answer.output.decode().startswith("REFUSED"), (address, answer.output)


@pytest.mark.parametrize("index", range(SELECTIONS))
def test_each_profile_and_choice_spawns_as_its_pod_says(hub, profiles, spawned, engine, index, record_property):
    from podsim import pod_container_name

    chosen = list(selections(profiles))
    assert len(chosen) == SELECTIONS, [name for name, *_ in chosen]
    name, form, override = chosen[index]
    person, session, bob = PEOPLE[index], hub["sessions"][PEOPLE[index]], hub["sessions"]["bob"]
    seconds = spawned[index]
    record_property("spawn_to_ready_seconds", round(seconds, 1))
    print(f"\nlabstack: {name}: spawn request to ready through the hub in {seconds:.1f} s ({SELECTIONS} spawned at once)")
    try:
        container = engine.containers.get(pod_container_name(f"jupyter-{person}"))
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        # the pod as KubeSpawner wrote it, with the chart's defaults
        assert config["Image"] == override["image"]
        assert config["Cmd"][0] == (override.get("cmd") or ["jupyterhub-singleuser"])[0], config["Cmd"]
        assert config["User"] == "1000" and host["GroupAdd"] == ["100"] and host["SecurityOpt"] == ["no-new-privileges"]
        env = dict(entry.split("=", 1) for entry in config["Env"])
        assert env["JUPYTERHUB_USER"] == person and env["JUPYTERHUB_API_URL"].endswith("/hub/api")
        home = container.exec_run(["stat", "-c", "%g %A", "/home/jovyan"]).output.decode().split()
        assert home == ["100", "drwxrwsr-x"], home  # the empty volume, as fsGroup leaves it
        assert container.exec_run(["test", "-e", "/home/jovyan/.bashrc"]).exit_code != 0  # not the image's home
        status = container.exec_run(["sh", "-c", "grep NoNewPrivs /proc/1/status; id -G"]).output.decode()
        assert "NoNewPrivs:\t1" in status and "100" in status.split(), status
        # Restricted Pod Security (profiles --restricted): no capabilities, a read-only root, /tmp writable
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"], (host["ReadonlyRootfs"], host["CapDrop"])
        assert "CapEff:\t0000000000000000" in container.exec_run(["grep", "CapEff", "/proc/1/status"]).output.decode()
        writable = container.exec_run(["sh", "-c", "touch /tmp/w && echo tmp; touch /opt/w 2>/dev/null || echo root-read-only"])
        assert writable.output.decode().split() == ["tmp", "root-read-only"], writable.output

        landing = override["default_url"]
        if landing == "/rstudio/" and not has_rserver(override["image"]):
            landing = "/lab"  # built without RStudio Server (the fallback the summary line reports)
        app = next((app for app in _APPS if app.default_url == landing and app.process), None)
        if app is not None and not override.get("cmd"):
            # the app it lands on started with the server, before any request asked for it (labstack_proxy.landing)
            poll_until(lambda: container.exec_run(["pgrep", "-f", app.process]).exit_code == 0, 60, 1,
                       lambda: f"{app.name} did not start with {person}'s server, which lands on {landing}")
        url = f"{server_url(hub, person)}{landing}"
        response = poll_until(lambda: (r := session.get(url, timeout=60)).status_code == 200 and r, 120, 2,
                              lambda: f"{url} never answered {person}:\n{hub['log'].read_text()[-2000:]}")
        marker = ALONE[" ".join(override["cmd"])].marker if override.get("cmd") else LANDS_ON[landing]
        assert marker in response.text, response.text[:500]
        socket = f"{url}?reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"
        if marker == WORKBENCH_MARKER:  # the workbench's websocket, for its owner
            assert websocket_status(socket, cookies=session.cookies) == 101
        if marker == WORKBENCH_MARKER or override.get("cmd"):  # and an app alone's, never for bob or nobody
            assert websocket_status(socket, cookies=bob.cookies) in (302, 403)
            assert websocket_status(socket) in (302, 403)
        refused = bob.get(url, timeout=60)
        assert refused.status_code == 403 and marker not in refused.text, (refused.status_code, refused.url)
        if override.get("cmd"):  # an app alone: no notebook server behind the hub
            # not followed: an app alone that is a Jupyter server itself (Voilà) sends it to its own login
            kernels = session.get(f"{server_url(hub, person)}/api/kernels", timeout=60, allow_redirects=False)
            processes = container.exec_run(["ps", "-eo", "args="]).output.decode()
            assert "jupyterhub-singleuser" not in processes and "-m labstack_proxy" in processes, processes
            assert not (kernels.status_code == 200 and kernels.text.startswith("[")), kernels.text[:200]
    finally:
        stop(hub, person)
