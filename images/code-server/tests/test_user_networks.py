"""What a user starts answers its owner only: another user's container can't reach it, on any port.

Three real hubs (JupyterHub, configurable-http-proxy, DockerSpawner, users alice and bob), one a column:
- "default bridge": every server on Docker's default bridge, as docs/jupyterhub.md told admins before;
- "user networks": what `build.py dockerspawner` prints, the hub on this machine (as the other hub tests
  run it);
- "user networks, hub in a container": the same printed with --hub-container, the hub and its proxy in a
  container on a network of their own with the engine's socket mounted, as compose setups run it.

In each, alice (the code-server image with Bokeh and Streamlit installed as a person installs them,
tests/fixtures/user-apps) starts with each one's defaults `python3 -m http.server 8000` in her home
(every address), `bokeh serve` (every address) and `streamlit run` (loopback, from the image's
environment). Then bob's container, another workload's container on the default bridge, bob's browser
and an anonymous client try each port; alice opens each through /user/alice/proxy/<port>/ in chromium.
The table is printed at the end of the module.
"""
from __future__ import annotations

import json
import secrets
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from labstack.containers import remove_stray_containers
from tracked import TestContainer, session_filter, session_label
from fixture_images import build_fixture_image
from browser import SCREENSHOTS
from jupyter_container import free_loopback_port, poll_until
from probes import LISTENING_SCRIPT, LOOPBACK_HEX
from realhub import HUB_ACCESS, api, docker_spawner_config, logged_in, print_outcomes, running_hub, server_url, spawn_all
from services import require

PREFIX = "labstack-unet"  # the hubs' containers and networks: PREFIX-...
COLUMNS = ["default bridge", "user networks", "user networks, hub in a container"]
# what alice starts, as each quick-start says: port -> (command in her home, path to ask, what answers)
# (docker exec has the image's PATH, not a terminal's: the user's environment is named in full)
USER_ENV_BIN = "/home/jovyan/.local/share/labstack/envs/python3.13/bin"
APPS = {
    8000: ("python3 -m http.server 8000", "/secret.txt", "SECRET"),
    5006: (f"{USER_ENV_BIN}/bokeh serve /home/jovyan/apps/bokeh_app.py", "/bokeh_app", "Bokeh"),
    8501: (f"{USER_ENV_BIN}/streamlit run /home/jovyan/apps/streamlit_app.py", "/", "Streamlit"),
}
NAMES = {8000: "http.server", 5006: "bokeh serve", 8501: "streamlit run"}
RESULTS: dict[str, dict[str, str]] = {}  # column -> attempt -> outcome

# Run in a container: GET the URL, bounded to 5 s; prints what answered, or why nothing did.
CONNECT = r"""
import sys, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=5).read(4000).decode(errors="replace")
    print("ANSWERED " + " ".join(body.split())[:300])
except Exception as error:
    print("REFUSED " + type(error).__name__ + " " + str(error)[:100])
"""

HUB_IN_A_CONTAINER = """
c.JupyterHub.ip = "0.0.0.0"
c.JupyterHub.port = 8000
""" + HUB_ACCESS


class ContainerLog:
    """A hub container's log, read as the hub tests read a hub's log file."""

    def __init__(self, container):
        self.container = container

    def read_text(self) -> str:
        try:
            return self.container.logs().decode(errors="replace")
        except Exception as error:  # noqa: BLE001 - a log that can't be read says so
            return f"(the hub container's log could not be read: {error})"


@pytest.fixture(scope="module")
def user_apps_image(image, settings):
    return build_fixture_image("user-apps", {"IMAGE": image("code-server")}, settings)


@contextmanager
def hub_in_a_container(engine, workdir, hub_image, user_image, users):
    """The hub (and its proxy) in a container on a network of its own (compose's), the engine's socket
    mounted, its proxy published on loopback, its spawner part printed for that container's name:
    yields what realhub.running_hub yields."""
    socket_path = "/var/run/docker.sock"
    if not Path(socket_path).exists():
        pytest.skip(f"the hub in a container needs the engine's socket at {socket_path}; this engine has none there")
    name = f"{PREFIX}-hub-{uuid.uuid4().hex[:8]}"
    token, password, port = secrets.token_hex(16), secrets.token_hex(8), free_loopback_port()
    spawner = docker_spawner_config(PREFIX, user_image, hub_container=name)
    (workdir / "jupyterhub_config.py").write_text(
        HUB_IN_A_CONTAINER.format(workdir="/srv/jupyterhub", token=token, password=password, users=set(users)) + spawner)
    compose = engine.networks.create(f"{name}-compose", driver="bridge", labels=session_label())
    container = None
    try:
        container = engine.containers.run(
            hub_image, name=name, detach=True, labels=session_label(), network=compose.name,
            ports={"8000/tcp": ("127.0.0.1", port)},
            volumes={socket_path: {"bind": socket_path, "mode": "rw"},
                     str(workdir): {"bind": "/srv/jupyterhub", "mode": "rw"}})
        log = ContainerLog(container)
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/hub/api"), 90, 1,
                   lambda: f"the hub in a container never answered:\n{log.read_text()[-3000:]}")
        yield {"url": url, "public_url": url, "subdomains": False, "token": token, "password": password, "log": log}
    finally:
        if container is not None:
            container.remove(force=True)
        compose.remove()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def hub_image(settings, base_ref):
    return build_fixture_image("hub-in-a-container", {"BASE_IMAGE": base_ref}, settings)


@pytest.fixture(scope="module", params=COLUMNS)
def hub(request, engine, user_apps_image, tmp_path_factory):
    try:
        import dockerspawner  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    column = request.param
    workdir = tmp_path_factory.mktemp("hub")
    try:
        if column == "user networks, hub in a container":
            started = hub_in_a_container(engine, workdir, request.getfixturevalue("hub_image"), user_apps_image,
                                         ("alice", "bob"))
        else:
            spawner = docker_spawner_config(PREFIX, user_apps_image, user_networks=column != "default bridge")
            started = running_hub(engine, workdir, spawner, users=("alice", "bob"))
        with started as hub:
            yield {**hub, "column": column}
    finally:
        remove_stray_containers(session_filter(), prefix=PREFIX)


def run_in(container, script: str, *args: str, user: str = "1000") -> str:
    return container.exec_run(["timeout", "20", "python3", "-c", script, *args], user=user).output.decode(errors="replace")


def addresses(container) -> list[str]:
    container.reload()
    return [network["IPAddress"] for network in container.attrs["NetworkSettings"]["Networks"].values()
            if network.get("IPAddress")]


@pytest.fixture(scope="module")
def servers(hub, engine):
    """alice's and bob's servers, and alice's apps started with their defaults."""
    for name in ("alice", "bob"):
        assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
    spawn_all(hub, [("alice", "", None), ("bob", "", None)])
    alice, bob = engine.containers.get(f"{PREFIX}-alice"), engine.containers.get(f"{PREFIX}-bob")
    secret = f"SECRET-{secrets.token_hex(6)}"
    alice.exec_run(["sh", "-c", f"echo {secret} > /home/jovyan/secret.txt"], user="1000")
    for port, (command, _, _) in APPS.items():
        alice.exec_run(["sh", "-c", f"cd /home/jovyan && exec {command} >/tmp/app-{port}.log 2>&1"], user="1000",
                       environment={"STREAMLIT_SERVER_HEADLESS": "true"}, detach=True)

    def listening():
        found = {s["port"]: s for s in json.loads(run_in(alice, LISTENING_SCRIPT).strip().splitlines()[-1])}
        return found if all(port in found for port in APPS) else None

    sockets = poll_until(listening, 120, 1, lambda: "alice's apps did not all start:\n" + alice.exec_run(
        ["sh", "-c", "tail -n 5 /tmp/app-*.log"]).output.decode(errors="replace"))
    yield {"alice": alice, "bob": bob, "secret": secret, "sockets": sockets, "addresses": addresses(alice)}
    for name in ("alice", "bob"):
        api(hub, "DELETE", f"/users/{name}/server")


def record(hub, attempt: str, outcome: str) -> str:
    RESULTS.setdefault(hub["column"], {})[attempt] = outcome
    return outcome


def outcome_of(output: str, expected: str) -> str:
    return "got in" if output.startswith("ANSWERED") and expected in output else "refused"


def test_no_other_container_reaches_what_alice_starts(hub, servers, image):
    """bob's container, and another workload's on the default bridge, ask each of alice's ports at each of
    her container's addresses, as `urllib.request.urlopen` in a person's terminal would."""
    expected = {8000: servers["secret"], 5006: "Bokeh", 8501: "Streamlit"}
    outsider = TestContainer(image("base"), network_mode="bridge", entrypoint=["sleep", "600"], user="1000")
    with outsider:
        outsider.run_detached()
        for port, (_, path, _) in APPS.items():
            for source, container in (("bob's container", servers["bob"]),
                                      ("a container on the default bridge", outsider.container)):
                outputs = [run_in(container, CONNECT, f"http://{address}:{port}{path}") for address in servers["addresses"]]
                got_in = any(outcome_of(output, expected[port]) == "got in" for output in outputs)
                record(hub, f"{source} -> alice's {NAMES[port]} ({port})", "got in" if got_in else "refused")
    outcomes = RESULTS[hub["column"]]
    if hub["column"] == "default bridge":
        # the attempt itself works: on the bridge the docs recommended, bob read alice's file
        assert outcomes["bob's container -> alice's http.server (8000)"] == "got in", outcomes
    else:
        assert all(outcome == "refused" for outcome in outcomes.values()), outcomes


def test_only_alice_opens_her_apps_through_jupyter(hub, servers, browser, capsys):
    """An anonymous client and bob's browser are refused at /user/alice/proxy/<port>/; alice's browser
    opens each app there (Streamlit's page renders through its websocket)."""
    alice_url = server_url(hub, "alice")
    expected = {8000: servers["secret"], 5006: "Bokeh", 8501: "labstack-streamlit"}
    for port, (_, path, _) in APPS.items():
        anonymous = requests.get(f"{alice_url}/proxy/{port}{path}", timeout=30, allow_redirects=False)
        record(hub, f"anonymous client -> /user/alice/proxy/{port}/", "got in" if expected[port] in anonymous.text else "refused")
        assert anonymous.status_code in (302, 401, 403), (port, anonymous.status_code)
    for user in ("bob", "alice"):
        context, page = logged_in(browser, hub, user)
        try:
            for port, (_, path, _) in APPS.items():
                response = page.goto(f"{alice_url}/proxy/{port}{path}")
                if user == "alice" and port == 8501:
                    page.get_by_text(expected[port]).first.wait_for(timeout=60_000)
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOTS / f"user-networks-streamlit-{hub['column'].replace(' ', '-').replace(',', '')}.png"))
                shown = expected[port] in page.content()
                record(hub, f"{user}'s browser -> /user/alice/proxy/{port}/", "opens" if shown else "refused")
                if user == "bob":
                    assert not shown and response.status in (403, 404), (port, response.status)
                else:
                    assert shown and response.status == 200, (port, response.status, page.content()[:500])
        finally:
            context.close()
    if len(RESULTS) == len(COLUMNS) and all(len(RESULTS[column]) == len(RESULTS[COLUMNS[0]]) for column in COLUMNS):
        with capsys.disabled():
            print_outcomes("attempt on what alice started", COLUMNS, RESULTS)


def test_streamlit_binds_loopback_by_default_in_the_image(user_apps_image, capsys):
    """Defence in depth: the frameworks that read their address from the environment bind loopback by
    default. Each started with its defaults in a fresh container; Streamlit once more without the image's
    setting (the "before"). Bokeh reads its address from no variable or file: every address, as before."""
    starts = {8000: APPS[8000][0], 5006: APPS[5006][0], 8501: APPS[8501][0],
              8502: "env -u STREAMLIT_SERVER_ADDRESS " + APPS[8501][0].replace("run ", "run --server.port 8502 ", 1)}
    with TestContainer(user_apps_image, network_mode="bridge", entrypoint=["sleep", "600"], user="1000") as box:
        container = box.run_detached()
        fresh = json.loads(run_in(container, LISTENING_SCRIPT).strip().splitlines()[-1])
        assert fresh == [], fresh  # a fresh container (its server not started here) listens on nothing
        for port, command in starts.items():
            container.exec_run(["sh", "-c", f"cd /home/jovyan && exec {command} >/tmp/app-{port}.log 2>&1"],
                               environment={"STREAMLIT_SERVER_HEADLESS": "true"}, detach=True)

        def listening():
            found = {s["port"]: s["address"] for s in json.loads(run_in(container, LISTENING_SCRIPT).strip().splitlines()[-1])}
            return found if all(port in found for port in starts) else None

        found = poll_until(listening, 120, 1, lambda: container.exec_run(["sh", "-c", "tail -n 5 /tmp/app-*.log"]).output.decode())
    with capsys.disabled():
        print("\nbind addresses with each one's defaults: " + ", ".join(
            f"{NAMES.get(port, 'streamlit run, without the image setting')} {'loopback' if address in LOOPBACK_HEX else 'every address'}"
            for port, address in found.items()))
    assert found[8501] in LOOPBACK_HEX, found
    assert found[8502] not in LOOPBACK_HEX, found  # what the setting changes: Streamlit's own default
