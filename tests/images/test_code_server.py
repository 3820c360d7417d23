"""Smoke tests of the code-server image: VS Code at /vscode/, behind Jupyter's auth, on a unix socket."""
import uuid

import pytest

from jupyter_container import JupyterContainer
from vsix import make_vsix
from probes import LOOPBACK_HEX, assert_home_belongs_to, assert_refused, listening_sockets, process_uids, servers_info_names

EXTENSION_ID = "labstack-test.probe"
WORKBENCH_MARKER = "vscode-workbench-web-configuration"
UNRESOLVED_MODULES = ("for f in $(find /opt/code-server -name '*.node'); do "
                      "ldd \"$f\" 2>&1 | grep -q 'not found' && echo \"$f\"; done; true")


LAYER = "code-server"  # these tests run on every image with the code-server layer (rstudio+code-server too)


@pytest.fixture(scope="module")
def code_server_image(image, spec, tmp_path_factory):
    vsix = make_vsix(tmp_path_factory.mktemp("vsix") / "probe.vsix", "labstack-test", "probe")
    return image(spec, {"code-server": [vsix]})


@pytest.fixture(scope="module")
def jupyter(code_server_image):
    with JupyterContainer(code_server_image) as jupyter:
        yield jupyter


@pytest.fixture(scope="module")
def workbench(jupyter):
    # The first request starts code-server through jupyter-server-proxy; follow its redirect to the folder.
    return jupyter.wait_for("/vscode/", timeout=120, status=200)


def test_vscode_serves_the_workbench_with_token(workbench):
    assert WORKBENCH_MARKER in workbench.text


def test_healthz_answers_alive(jupyter, workbench):
    status = jupyter.websocket_status(f"/vscode/?reconnectionToken={uuid.uuid4()}&reconnection=false"
                                      "&skipWebSocketFrames=false")
    assert status == 101
    response = jupyter.get("/vscode/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "alive"


def test_websocket_upgrades_with_token_and_is_refused_without(jupyter, workbench):
    path = f"/vscode/?reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"
    assert jupyter.websocket_status(path) == 101
    assert_refused(jupyter, path)


def test_vscode_without_token_never_serves_the_workbench(jupyter, workbench):
    for path in ("/vscode/", "/vscode/?folder=/home/jovyan", "/vscode/healthz"):
        response = jupyter.get(path, token=False, allow_redirects=True)
        assert WORKBENCH_MARKER not in response.text
        assert "alive" not in response.text
    assert_refused(jupyter, "/vscode/")


def test_code_server_runs_as_jovyan_on_a_unix_socket(jupyter, workbench):
    assert process_uids(jupyter, "/opt/code-server/") == {1000}
    sockets = listening_sockets(jupyter)
    assert {s["port"] for s in sockets} == {jupyter.port}, sockets
    assert all(s["address"] in LOOPBACK_HEX for s in sockets), sockets
    command = jupyter.exec(["ps", "-eo", "args="])
    assert "--socket" in command and "--auth none" in command


def test_home_belongs_to_jovyan(jupyter):
    assert_home_belongs_to(jupyter)


def test_launcher_entry_with_icon(jupyter):
    assert "vscode" in servers_info_names(jupyter)
    entry = next(s for s in jupyter.get("/server-proxy/servers-info").json()["server_processes"]
                 if s["name"] == "vscode")
    assert entry["launcher_entry"]["title"] == "VS Code"
    icon = jupyter.get(entry["launcher_entry"]["icon_url"])
    assert icon.status_code == 200 and b"<svg" in icon.content


def test_bundled_extension_is_installed_outside_home(jupyter):
    listed = jupyter.exec(["code-server", "--extensions-dir", "/opt/code-server/extensions",
                           "--list-extensions"])
    assert EXTENSION_ID in listed.split()
    # users can still add their own
    jupyter.exec(["test", "-w", "/opt/code-server/extensions"])


def test_final_image_has_no_compilers_or_headers(jupyter):
    for program in ("gcc", "cc", "g++", "make", "npm"):
        assert jupyter.exec(["sh", "-c", f"command -v {program} || echo absent"]).strip() == "absent"
    jupyter.exec(["test", "!", "-e", "/opt/node/include"])
    # Every native module finds its runtime libraries, except the Microsoft sign-in extension's desktop
    # broker (msal-node-runtime), which needs GTK/WebKit and is never loaded by VS Code in a browser.
    unresolved = jupyter.exec(["sh", "-c", UNRESOLVED_MODULES]).split()
    assert [m for m in unresolved if not m.endswith("/msal-node-runtime.node")] == []


def test_empty_home_volume_still_loads_workbench_and_extension(code_server_image):
    # Zero-to-JupyterHub mounts a fresh, empty volume on /home/jovyan, writable by jovyan.
    with JupyterContainer(code_server_image, tmpfs={"/home/jovyan": "uid=1000,gid=100,mode=0755"}) as jupyter:
        jupyter.exec(["test", "!", "-e", "/home/jovyan/.bashrc"])  # the image's own home is hidden
        response = jupyter.wait_for("/vscode/", timeout=120)
        assert WORKBENCH_MARKER in response.text
        listed = jupyter.exec(["code-server", "--extensions-dir", "/opt/code-server/extensions",
                               "--list-extensions"])
        assert EXTENSION_ID in listed.split()
        settings = jupyter.exec(["cat", "/home/jovyan/.local/share/code-server/User/settings.json"])
        assert '"telemetry.telemetryLevel": "off"' in settings


@pytest.mark.parametrize("environment", [
    {"JUPYTER_VSCODE_PROXY_USE_SOCKET": "no", "CODE_SERVER_HOST": "0.0.0.0"},  # TCP, asked for every interface
    {},  # a unix socket, with the config.yaml below asking for 0.0.0.0:8080 all the same
])
def test_code_server_never_listens_off_loopback(code_server_image, environment):
    """Whatever a profile's environment or the user's config.yaml say, code-server (run with --auth none)
    answers only through Jupyter: on a unix socket or 127.0.0.1."""
    with JupyterContainer(code_server_image, environment=environment) as jupyter:
        jupyter.exec(["sh", "-c", "mkdir -p ~/.config/code-server && "
                                  "printf 'bind-addr: 0.0.0.0:8080\\nauth: none\\ncert: false\\n' > ~/.config/code-server/config.yaml"])
        assert WORKBENCH_MARKER in jupyter.wait_for("/vscode/", timeout=120).text
        sockets = listening_sockets(jupyter)
        assert all(s["address"] in LOOPBACK_HEX for s in sockets), sockets
        code_server = [s for s in sockets if "out/node/entry" in s["cmd"]]
        assert bool(code_server) == bool(environment), sockets  # TCP only where the environment asked for it


def test_code_server_uses_its_own_node(jupyter, workbench):
    # Other layers may bring an older node onto PATH (Shiny Server's Debian package does): not for code-server.
    commands = jupyter.exec(["ps", "-eo", "args="]).splitlines()
    code_server = [c for c in commands if "code-server/out/node/entry.js" in c]
    assert code_server and all(c.startswith("/opt/node/bin/node ") for c in code_server), code_server
