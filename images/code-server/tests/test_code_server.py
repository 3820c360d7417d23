"""Smoke tests of the code-server image: VS Code at /vscode/, behind Jupyter's auth, on a unix socket."""
import os
import uuid

import pytest

from labstack.engine import image_exists
from jupyter_container import JupyterContainer
from vsix import make_vsix
from probes import CRASH_PROBES, LOOPBACK_HEX, app_sockets, assert_home_belongs_to, assert_refused, listening_sockets, process_uids, servers_info_names

EXTENSION_ID = "labstack-test.probe"
WORKBENCH_MARKER = CRASH_PROBES["vscode"][1]
UNRESOLVED_MODULES = ("for f in $(find /opt/code-server -name '*.node'); do "
                      "ldd \"$f\" 2>&1 | grep -q 'not found' && echo \"$f\"; done; true")




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


VSCODE_ROOT = "/opt/code-server/lib/node_modules/code-server/lib/vscode"
# Headers that differ by encoding; every other header of a precompressed answer is VS Code's own.
ENCODING_HEADERS = {"content-encoding", "content-length", "etag", "last-modified", "accept-ranges",
                    "transfer-encoding", "date", "set-cookie", "connection", "keep-alive"}


def test_vscode_static_files_are_compressed_once_at_build_time(jupyter, workbench):
    """The workbench's JavaScript and one file of each precompressed kind: in br and in gzip, the bytes
    sent are the .br/.gz written at build time (not compressed per request), they decompress to the very
    file VS Code sends uncompressed, and the other headers are the ones VS Code sends."""
    import gzip
    import hashlib
    import re

    static = re.search(r"[a-z]+-[0-9a-f]{40}/static/", workbench.text).group(0)
    listing = jupyter.exec(["sh", "-c", f"cd {VSCODE_ROOT} && find out extensions -name '*.br' | sort"]).split()
    assert "out/vs/code/browser/workbench/workbench.js.br" in listing
    first_of_each_kind = {}
    for compressed in listing:
        first_of_each_kind.setdefault(compressed[:-3].rsplit(".", 1)[-1], compressed[:-3])
    files = sorted({"out/vs/code/browser/workbench/workbench.js", *first_of_each_kind.values()})
    assert {"js", "css", "html", "json"} <= set(first_of_each_kind), first_of_each_kind
    sums = dict(reversed(line.split()) for line in jupyter.exec(
        ["sh", "-c", f"cd {VSCODE_ROOT} && sha256sum " + " ".join(f"{f} {f}.br {f}.gz" for f in files)]).splitlines())
    for path in files:
        plain = jupyter.get(f"/vscode/{static}{path}", headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers, path
        assert hashlib.sha256(plain.content).hexdigest() == sums[path], path
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            sent = jupyter.get(f"/vscode/{static}{path}", headers={"Accept-Encoding": encoding}, stream=True)
            raw = sent.raw.read(decode_content=False)
            assert sent.status_code == 200 and sent.headers["Content-Encoding"] == encoding, (path, encoding)
            assert "Accept-Encoding" in sent.headers["Vary"]
            assert hashlib.sha256(raw).hexdigest() == sums[path + suffix], (path, encoding)
            assert {k.lower(): v for k, v in sent.headers.items() if k.lower() not in ENCODING_HEADERS} == \
                {k.lower(): v for k, v in plain.headers.items() if k.lower() not in ENCODING_HEADERS}, path
            again = jupyter.get(f"/vscode/{static}{path}",
                                headers={"Accept-Encoding": encoding, "If-None-Match": sent.headers["ETag"]})
            assert again.status_code == 304, (path, encoding)
        assert gzip.decompress(jupyter.get(f"/vscode/{static}{path}", headers={"Accept-Encoding": "gzip"},
                                           stream=True).raw.read(decode_content=False)) == plain.content
    # and each .br holds the file itself (Python here has no brotli; the image's Node decompresses it)
    unpacked = jupyter.exec(["/opt/node/bin/node", "-e",
                             "const z=require('zlib'),f=require('fs'),c=require('crypto');"
                             "for (const p of process.argv.slice(1)) console.log(c.createHash('sha256')"
                             ".update(z.brotliDecompressSync(f.readFileSync(p+'.br'))).digest('hex'), p)",
                             *(f"{VSCODE_ROOT}/{f}" for f in files)])
    assert {line.split()[1][len(VSCODE_ROOT) + 1:]: line.split()[0] for line in unpacked.splitlines()} == \
        {f: sums[f] for f in files}


def test_code_server_runs_as_jovyan_on_a_unix_socket(jupyter, workbench):
    assert process_uids(jupyter, "/opt/code-server/") == {1000}
    sockets = listening_sockets(jupyter)
    assert {s["port"] for s in sockets} == {jupyter.listen_port}, sockets
    assert app_sockets(jupyter, sockets) == []  # code-server on its unix socket: no TCP listener but Jupyter's
    command = jupyter.exec(["ps", "-eo", "args="])
    assert "--socket" in command and "--auth none" in command


def test_home_belongs_to_jovyan(jupyter):
    assert_home_belongs_to(jupyter)


def test_versions_are_the_binaries_own(jupyter, engine):
    """build.py's measured labels (images/code-server/image.toml) against what code-server and its own
    Node say; the code-server tag names the same version."""
    labels = engine.images.get(jupyter.image).labels
    says = jupyter.exec(["sh", "-c", "code-server --version 2>/dev/null"]).strip().splitlines()[-1]
    assert says.split()[0] == labels["io.labstack.code-server.version"], says
    assert jupyter.exec(["/opt/node/bin/node", "--version"]).strip() == f"v{labels['io.labstack.node.version']}"


def test_the_code_server_tag_names_the_image_under_test_not_a_variant(image, spec, code_server_image, engine):
    """The tag build.py gave the image under test (code-server-<version>, measured) still names it after
    this module built its variant with a test extension: a test's build never moves a user's tags."""
    given = engine.images.get(image(spec))
    tag = f"{image(spec).rsplit(':', 1)[0]}:code-server-{given.labels['io.labstack.code-server.version']}"
    if not image_exists(tag):
        pytest.skip(f"{image(spec)} has no version tags: build.py build and test give them, a test's own build does not")
    assert engine.images.get(tag).id == given.id, f"{tag} was moved to the variant {code_server_image}"


def test_launcher_entry_with_icon(jupyter):
    assert "vscode" in servers_info_names(jupyter)
    entry = next(s for s in jupyter.get("/server-proxy/servers-info").json()["server_processes"]
                 if s["name"] == "vscode")
    assert entry["launcher_entry"]["title"] == "VS Code"
    icon = jupyter.get(entry["launcher_entry"]["icon_url"])
    assert icon.status_code == 200 and b"<svg" in icon.content


def test_bundled_extension_is_installed_into_the_home_once(jupyter, workbench):
    """The image keeps its .vsix outside the home; code-server's first start put it into the user's own
    extensions folder (where the user's own extensions go, and stay across restarts), and only once."""
    jupyter.exec(["sh", "-c", "ls /opt/code-server/vsix/*.vsix"])
    extensions = "/home/jovyan/.local/share/code-server/extensions"
    assert any(name.startswith(EXTENSION_ID) for name in jupyter.exec(["ls", extensions]).split())
    assert EXTENSION_ID in jupyter.exec(["code-server", "--list-extensions"]).split()
    jupyter.exec(["code-server", "--uninstall-extension", EXTENSION_ID])
    assert EXTENSION_ID not in jupyter.exec(["code-server", "--list-extensions"]).split()  # not put back


def test_final_image_has_no_compilers_or_headers(jupyter):
    # Nothing of code-server's builder stage: no compiler, and no npm but what a Debian package of a
    # lower layer brings (Shiny Server's dependencies bring Debian's npm into rstudio+code-server).
    for program in ("gcc", "cc", "g++", "make", "npm"):
        found = jupyter.exec(["sh", "-c", f"command -v {program} || echo absent"]).strip()
        if found != "absent":
            owner = jupyter.exec(["dpkg", "-S", jupyter.exec(["readlink", "-f", found]).strip()], check=False)
            assert program == "npm" and owner.startswith("npm:"), f"{found}: {owner}"
    jupyter.exec(["test", "!", "-e", "/opt/node/include"])
    # Every native module finds its runtime libraries (the desktop sign-in broker, which needs GTK,
    # is pruned with the rest of what a browser never loads: images/code-server/prune-code-server.sh).
    assert jupyter.exec(["sh", "-c", UNRESOLVED_MODULES]).split() == []


def test_what_a_hub_never_loads_is_pruned_and_search_and_git_still_work(jupyter, workbench):
    vscode = "/opt/code-server/lib/node_modules/code-server/lib/vscode"
    for gone in ("node_modules/@github/copilot-sdk", "node_modules/@microsoft/mxc-sdk", "extensions/copilot"):
        jupyter.exec(["test", "!", "-e", f"{vscode}/{gone}"])
    assert jupyter.exec(["sh", "-c", "find /opt/code-server -name '*.map' | head -n 3"]).strip() == ""
    # VS Code's search runs its own ripgrep, kept for this machine only
    jupyter.exec(["sh", "-c", "echo labstack-search-probe > ~/search-probe.txt"])
    found = jupyter.exec(["sh", "-c", f"{vscode}/node_modules/@vscode/ripgrep-universal/bin/*/rg -l labstack-search-probe ~"])
    assert found.strip().endswith("search-probe.txt"), found
    assert jupyter.exec(["git", "--version"]).startswith("git version")


@pytest.mark.layer_image
def test_empty_home_volume_still_loads_workbench_and_extension(code_server_image):
    # Zero-to-JupyterHub mounts a fresh, empty volume on /home/jovyan, writable by jovyan.
    with JupyterContainer(code_server_image, tmpfs={"/home/jovyan": "uid=1000,gid=100,mode=0755"}) as jupyter:
        jupyter.exec(["test", "!", "-e", "/home/jovyan/.bashrc"])  # the image's own home is hidden
        response = jupyter.wait_for("/vscode/", timeout=120)
        assert WORKBENCH_MARKER in response.text
        assert EXTENSION_ID in jupyter.exec(["code-server", "--list-extensions"]).split()
        settings = jupyter.exec(["cat", "/home/jovyan/.local/share/code-server/User/settings.json"])
        assert '"telemetry.telemetryLevel": "off"' in settings


@pytest.mark.layer_image
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
        sockets = app_sockets(jupyter)
        assert all(s["address"] in LOOPBACK_HEX for s in sockets), sockets
        code_server = [s for s in sockets if "out/node/entry" in s["cmd"]]
        assert bool(code_server) == bool(environment), sockets  # TCP only where the environment asked for it


def test_code_server_uses_its_own_node(jupyter, workbench):
    # Other layers may bring an older node onto PATH (Shiny Server's Debian package does): not for code-server.
    commands = jupyter.exec(["ps", "-eo", "args="]).splitlines()
    code_server = [c for c in commands if "code-server/out/node/entry.js" in c]
    assert code_server and all(c.startswith("/opt/node/bin/node ") for c in code_server), code_server


# ---- in a real browser (Debian's chromium through Playwright)

def test_vscode_in_a_browser_terminal_python_and_no_chat(browser, jupyter, workbench, spec, tmp_path):
    from browser import assert_no_chat, login, open_vscode, type_in_vscode_terminal, visit
    from probes import execute_in_kernel, probe_wheel

    wheel = probe_wheel(tmp_path, "installed-from-vscode")
    jupyter.put_file(wheel)

    page_visit = visit(browser, jupyter.base_url)
    page = page_visit.page
    login(page_visit, jupyter)
    open_vscode(page_visit, jupyter)
    assert_no_chat(page_visit)
    page_visit.screenshot(f"vscode-workbench-{spec.replace('+', '-')}")

    type_in_vscode_terminal(page_visit, "command -v python3 pip jupyter > ~/vscode-terminal.txt; "
                            f"pip install --user --no-index /tmp/{wheel.name} >> ~/vscode-pip.log 2>&1; "
                            "labstackprobe >> ~/vscode-terminal.txt; echo done >> ~/vscode-terminal.txt")

    def finished():
        text = jupyter.exec(["cat", f"{jupyter.exec(['sh', '-c', 'echo $HOME']).strip()}/vscode-terminal.txt"], check=False)
        return text if "done" in text else None

    from jupyter_container import poll_until
    paths = poll_until(finished, 90, 1, lambda: "the VS Code terminal did not run the command:\n" +
                       jupyter.exec(["sh", "-c", "cat ~/vscode-pip.log"], check=False))
    page_visit.screenshot(f"vscode-terminal-{spec.replace('+', '-')}")
    # the terminal's python3 and pip are the notebook's (the user's environment), jupyter the image's
    env = "/home/jovyan/.local/share/labstack/envs/python3.13/bin"
    assert paths.split()[:3] == [f"{env}/python3", f"{env}/pip", "/opt/jupyter/bin/jupyter"], paths
    # and the script pip put in ~/.local/bin runs by name there
    assert "installed-from-vscode" in paths.split()[3:], paths
    assert execute_in_kernel(jupyter, "python3", "import labstackprobe; labstackprobe.VALUE") == "'installed-from-vscode'"
    assert page.get_by_text("Sign in to use").count() == 0
    assert page_visit.foreign_requests() == [], page_visit.foreign_requests()[:10]
    page.context.close()


@pytest.mark.layer_image  # code-server-guard's setting: the same file in every image with the layer
def test_a_web_server_started_in_vscode_opens_through_jupyters_proxy(browser, jupyter, workbench, spec):
    """`python3 -m http.server 5000` in VS Code's terminal: its "Open in Browser" notification opens the
    page at Jupyter's own /proxy/5000/ (code-server-guard sets VSCODE_PROXY_URI from the server's
    prefix), and the page loads there, behind Jupyter's authentication."""
    from browser import login, open_a_port_served_from_vscode, open_vscode, visit

    page_visit = visit(browser, jupyter.base_url)
    login(page_visit, jupyter)
    open_vscode(page_visit, jupyter)
    tab = open_a_port_served_from_vscode(page_visit, 5000, "labstack-port-page")
    page_visit.screenshot(f"vscode-port-{spec.replace('+', '-')}")
    assert tab.url == f"{jupyter.base_url}/proxy/5000/", tab.url
    assert "labstack-port-page" in tab.content()
    assert_refused(jupyter, "/proxy/5000/")  # the same page without Jupyter's login
    page_visit.page.context.close()


@pytest.mark.layer_image
def test_first_use_of_vscode_from_docker_run_in_phases(browser, code_server_image, record_property):
    """`make bench`'s first-use measurement, once and reduced: a profile landing on VS Code, from `docker
    run` to the editor taking typed text in chromium. The phases come in order; their time is the bench's."""
    from first_use import from_docker_run

    phases = from_docker_run(browser, code_server_image, "vscode")
    record_property("first_use_vscode", phases)
    order = ("container started", "Jupyter answering", "first byte", "usable")
    assert [phases[p] for p in order] == sorted(phases[p] for p in order), phases
    assert phases["Jupyter answering"] <= phases["app answering"] <= phases["usable"], phases


def test_the_launcher_card_opens_a_working_workbench(browser, jupyter, workbench, spec):
    from browser import login, visit

    page_visit = visit(browser, jupyter.base_url)
    login(page_visit, jupyter)
    with page_visit.page.context.expect_page(timeout=60_000) as opened:  # VS Code opens in a new tab
        page_visit.page.locator(".jp-LauncherCard[title^='VS Code']").click()
    tab = opened.value
    tab.wait_for_selector(".monaco-workbench .part.editor", timeout=120_000)
    assert tab.url.startswith(f"{jupyter.base_url}/vscode/")
    tab.keyboard.press("F1")  # and it answers: the command palette opens
    tab.wait_for_selector(".quick-input-widget", state="visible", timeout=30_000)
    page_visit.page.context.close()


# ---- a crashed VS Code comes back (labstack_proxy)

CODE_SERVER_PROCESS = CRASH_PROBES["vscode"][2]  # code-server (entry.js) and its server child (entry)


@pytest.mark.layer_image
def test_vscode_comes_back_after_a_crash(jupyter, workbench, spec):
    from probes import recovery_seconds

    seconds = recovery_seconds(jupyter, "/vscode/", WORKBENCH_MARKER, CODE_SERVER_PROCESS)
    print(f"\nlabstack: {spec}: VS Code back {seconds:.1f} s after SIGKILL")
    logs = jupyter.tracked.container.logs().decode(errors="replace")
    assert "labstack_proxy: vscode exited with code -9; starting it again" in logs \
        or "labstack_proxy: vscode stopped taking connections; starting it again" in logs, logs[-2000:]


@pytest.mark.layer_image
def test_the_workbench_in_a_browser_recovers_from_a_crash_with_one_reload(browser, jupyter, workbench, spec):
    """VS Code cannot reconnect to a new server process by itself: the session it held (its reconnection
    token, terminals, extension host) died with the old one, and the workbench says so at once. What
    labstack gives it: the server is back by then, so one "Reload Window" brings a working workbench."""
    from browser import login, open_vscode, type_in_vscode_terminal, visit
    from jupyter_container import poll_until
    from probes import kill_app

    page_visit = visit(browser, jupyter.base_url)
    login(page_visit, jupyter)
    open_vscode(page_visit, jupyter)
    page = page_visit.page
    kill_app(jupyter, CODE_SERVER_PROCESS)
    reload = page.locator(".monaco-dialog-box .monaco-button", has_text="Reload Window")
    reload.first.wait_for(state="visible", timeout=30_000)
    page_visit.screenshot(f"vscode-after-crash-{spec.replace('+', '-')}")
    reload.first.click()
    page.wait_for_selector(".monaco-workbench .part.editor", timeout=120_000)
    page.wait_for_timeout(3000)
    type_in_vscode_terminal(page_visit, "echo back-after-crash > ~/after-crash.txt")
    poll_until(lambda: "back-after-crash" in jupyter.exec(["sh", "-c", "cat ~/after-crash.txt"], check=False), 60, 1,
               lambda: "the reloaded workbench's terminal did not run the command")
    assert page.locator(".monaco-dialog-box").count() == 0
    page.context.close()


@pytest.mark.layer_image
def test_an_app_that_keeps_crashing_answers_503_and_does_not_spin(code_server_image):
    from probes import kill_app

    with JupyterContainer(code_server_image) as jupyter:
        jupyter.wait_for("/vscode/", timeout=120)
        for _ in range(3):  # three crashes within the minute: each restarted
            kill_app(jupyter, CODE_SERVER_PROCESS)
            assert jupyter.wait_for("/vscode/", timeout=60).status_code == 200
        kill_app(jupyter, CODE_SERVER_PROCESS)
        response = jupyter.get("/vscode/")
        assert response.status_code == 503 and "keeps crashing" in response.text, (response.status_code, response.text[:300])
        # and it is not restarted behind the user's back: no code-server runs until the minute is over
        assert jupyter.exec(["sh", "-c", f"pgrep -f '{CODE_SERVER_PROCESS}' || true"]).strip() == ""
        assert jupyter.get("/api").status_code == 200  # Jupyter itself is fine


# ---- a server stopped and started again keeps the work; resource limits

@pytest.mark.layer_image
def test_a_new_container_on_the_same_home_keeps_settings_extensions_workspace_and_layout(code_server_image, engine, tmp_path):
    """What a hub does when a user's server restarts: a new container, the same home volume."""
    import json
    from urllib.parse import unquote

    from tracked import session_label

    volume = engine.volumes.create(labels=session_label())
    home = {volume.name: {"bind": "/home/jovyan", "mode": "rw"}}
    layout = {"data": {"layout-restorer:data": {"main": {"current": "notebook:project/analysis.ipynb"}}},
              "metadata": {"id": "labstack-probe"}}
    try:
        with JupyterContainer(code_server_image, volumes=home) as first:
            first.wait_for("/vscode/", timeout=120)
            vsix = first.put_file(make_vsix(tmp_path / "mine.vsix", "labstack-test", "mine"))
            first.exec(["sh", "-c", f"mkdir -p ~/project && echo 'print(1)' > ~/project/main.py && "
                                    f"code-server --install-extension {vsix}"])
            settings = "/home/jovyan/.local/share/code-server/User/settings.json"
            changed = {**json.loads(first.exec(["cat", settings])), "editor.fontSize": 17}
            first.exec(["sh", "-c", f"cat > {settings} <<'END'\n{json.dumps(changed)}\nEND"])
            opened = first.wait_for("/vscode/?folder=/home/jovyan/project", timeout=60)  # code-server remembers it
            assert opened.status_code == 200
            saved = requests_put(first, "/lab/api/workspaces/labstack-probe", layout)  # as JupyterLab saves it
            assert saved.status_code == 204, saved.text
        with JupyterContainer(code_server_image, volumes=home) as second:
            assert json.loads(second.exec(["cat", settings]))["editor.fontSize"] == 17  # not reset to defaults
            assert "labstack-test.mine" in second.exec(["code-server", "--list-extensions"]).split()
            reopened = second.get("/vscode/")  # started again, code-server sends the user to their last folder
            assert reopened.status_code == 302, reopened.status_code
            assert "folder=/home/jovyan/project" in unquote(reopened.headers["Location"]), reopened.headers["Location"]
            restored = second.get("/lab/api/workspaces/labstack-probe")
            assert restored.status_code == 200 and restored.json()["data"] == layout["data"]
    finally:
        volume.remove(force=True)


def requests_put(jupyter, path: str, body: dict):
    import requests

    return requests.put(jupyter.url(path), json=body, timeout=30, headers={"Authorization": f"token {jupyter.token}"})


def oom_kills(jupyter) -> int:
    """The container's OOM kills so far (cgroup v1 or v2)."""
    text = jupyter.exec(["sh", "-c", "cat /sys/fs/cgroup/memory.events 2>/dev/null || "
                                     "cat /sys/fs/cgroup/memory/memory.oom_control"])
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("oom_kill ")))


@pytest.mark.layer_image
def test_one_gigabyte_and_one_cpu_run_jupyter_and_vscode_and_a_kernels_oom_spares_them(code_server_image):
    from jupyter_container import poll_until
    from probes import execute_in_kernel, start_in_kernel

    limits = {"mem_limit": "1g", "memswap_limit": "1g", "nano_cpus": 1_000_000_000}
    with JupyterContainer(code_server_image, run_options=limits) as jupyter:
        assert jupyter.wait_for("/vscode/", timeout=120).status_code == 200
        # a notebook's 200 MB, every page of it touched
        assert execute_in_kernel(jupyter, "python3", "data = b'x' * (200 << 20); len(data)") == str(200 << 20)
        before = oom_kills(jupyter)
        # a kernel that takes all the memory there is: the kernel is OOM-killed (and restarted), not the servers
        start_in_kernel(jupyter, "python3", "hog = []\nwhile True: hog.append(b'x' * (32 << 20))")
        poll_until(lambda: oom_kills(jupyter) > before, 60, 1, lambda: "the memory hog was never OOM-killed")
        poll_until(lambda: "restarting kernel" in jupyter.tracked.logs(), 30, 1,
                   lambda: f"no kernel was restarted:\n{jupyter.tracked.logs()[-2000:]}")
        assert jupyter.get("/api/status").status_code == 200
        assert WORKBENCH_MARKER in jupyter.wait_for("/vscode/", timeout=60).text
        assert execute_in_kernel(jupyter, "python3", "1 + 1") == "2"  # and a new kernel runs


# ---- load: CI runs a short version; `make bench` the full minute (tests/bench.py)
LOAD_SECONDS = int(os.environ.get("LABSTACK_LOAD_SECONDS", "10"))


@pytest.mark.layer_image
def test_one_server_holds_fifty_clients_and_twenty_websockets(jupyter, workbench):
    from load import run_load
    from probes import start_proxy_app

    figures = run_load(jupyter, start_proxy_app(jupyter), LOAD_SECONDS, clients=50, websockets=20)
    print(f"\nlabstack: load for {LOAD_SECONDS} s: {figures}")
    assert figures["errors"] == 0, figures["first_errors"]
    assert figures["websocket_echoes"] >= 20 * LOAD_SECONDS, figures  # each websocket echoed all along
    assert figures["requests"] >= 50, figures
