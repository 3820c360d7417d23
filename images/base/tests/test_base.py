"""Smoke tests of the base image: Jupyter, its auth, and jupyter-server-proxy, on a real container."""
import os

import pytest
import requests
from packaging.version import Version

from tracked import TestContainer
from jupyter_container import JupyterContainer, poll_until
from probes import (all_tags, new_tags, assert_app_answers, assert_home_belongs_to, build_py, assert_refused, run_in_terminal,
                    expected_server_names, process_uids, servers_info_names, uncompiled_server_modules)




@pytest.fixture(scope="module")
def jupyter(image, spec):
    with JupyterContainer(image(spec)) as jupyter:
        yield jupyter


def test_api_answers(jupyter):
    response = jupyter.get("/api", token=False)
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")


def test_lab_is_served_with_token(jupyter):
    response = jupyter.get("/lab")
    assert response.status_code == 200
    assert "JupyterLab" in response.text


def test_lab_without_token_redirects_to_login(jupyter):
    response = jupyter.get("/lab", token=False)
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_servers_info_lists_configured_servers(jupyter):
    assert servers_info_names(jupyter) == expected_server_names(jupyter)


def test_every_declared_app_answers_at_its_default_url(jupyter, spec):
    """What the image's layers declare ([[apps]] in their image.toml) is what it serves: each app is a server
    of the image (JupyterLab is Jupyter itself) and its default_url, where a profile lands, answers with the
    app's marker. A typo in a name or a URL fails here, not in a user's profile. An app its layer leaves out
    for some build arguments (`unless`: RStudio in an image built --without-rstudio) may be absent."""
    from image_tests import GRAPH

    served = servers_info_names(jupyter)
    for app in GRAPH.apps(spec):
        if app.name != "lab" and app.name not in served:
            assert app.unless, f"[[apps]] declares {app.name!r}, which is not a server of this image: {served}"
            continue
        assert_app_answers(jupyter, app)


@pytest.mark.layer_image
@pytest.mark.widest_image  # every app of the others runs in it: none of them is listed
def test_the_web_apps_a_person_started_are_listed_and_jupyters_own_are_not(jupyter, spec):
    """labstack_proxy.web_apps: a web server started in JupyterLab's terminal, with Python's defaults
    (every address), is listed with its link through the proxy; Jupyter's port, a kernel's channels and
    the image's own apps (running) are not; the list needs the token."""
    from image_tests import GRAPH
    from probes import start_kernel

    served = servers_info_names(jupyter)
    for app in GRAPH.apps(spec):  # the image's apps running, so that their ports are there to leave out
        if app.name != "lab" and app.name in served:
            assert_app_answers(jupyter, app)
    start_kernel(jupyter, "python3")
    port = jupyter.free_port(8123)
    # in a subshell, as below: not a job of the terminal's shell, so closing the terminal can't hang it up
    # before nohup has run (a `{ nohup … & }` job was, once in 35 tests under load)
    run_in_terminal(jupyter, f"(nohup python3 -m http.server {port} > /tmp/http-server.log 2>&1 &)")

    def listed():
        apps = jupyter.get("/labstack/web-apps").json()["apps"]
        return apps if any(app["port"] == port for app in apps) else None

    apps = poll_until(listed, 30, 1, lambda: f"port {port} never listed: {jupyter.get('/labstack/web-apps').text}")
    assert [app["port"] for app in apps] == [port], apps
    assert apps[0]["address"] in ("0.0.0.0", "::") and "http.server" in apps[0]["command"], apps
    assert apps[0]["url"] == f"/proxy/{port}/" and jupyter.get(apps[0]["url"]).status_code == 200
    assert jupyter.get("/labstack/web-apps", token=False).status_code in (302, 403)


def test_servers_info_refused_without_token(jupyter):
    assert jupyter.get("/server-proxy/servers-info", token=False).status_code in (302, 403)


def test_web_server_inside_is_proxied_only_with_token(jupyter):
    port = jupyter.free_port(8080)
    jupyter.exec(["mkdir", "-p", "/tmp/site"])
    jupyter.exec(["sh", "-c", "echo labstack-proxy-probe > /tmp/site/probe.txt"])
    jupyter.tracked.container.exec_run(
        ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "/tmp/site"],
        detach=True,
    )
    response = jupyter.wait_for(f"/proxy/{port}/probe.txt", timeout=30)
    assert response.text.strip() == "labstack-proxy-probe"
    assert_refused(jupyter, f"/proxy/{port}/probe.txt")
    assert_refused(jupyter, f"/proxy/{port}/")


def test_proxy_refuses_hosts_outside_allowlist(jupyter):
    # host_allowlist keeps /proxy/ from reaching anything but the container's own loopback.
    response = jupyter.get("/proxy/example.invalid:80/")
    assert response.status_code == 403


def test_jupyterhub_singleuser_on_path(jupyter):
    assert jupyter.exec(["sh", "-c", "command -v jupyterhub-singleuser"]).strip() == \
        "/opt/jupyter/bin/jupyterhub-singleuser"
    assert jupyter.exec(["jupyterhub-singleuser", "--version"]).strip().startswith("5.")


def test_what_the_server_imports_is_compiled_in_the_image(jupyter):
    """The server's user cannot write /opt/jupyter: bytecode is made at build time, for what it imports."""
    count, missing = uncompiled_server_modules(jupyter)
    assert count > 300 and missing == [], (count, missing[:20])


def test_server_runs_as_jovyan(jupyter):
    assert process_uids(jupyter, "jupyter-lab") == {1000}
    assert jupyter.exec(["id", "-un"]).strip() == "jovyan"


def test_terminal_has_the_users_python_and_jupyters_commands(jupyter):
    # A login shell (JupyterLab's terminal) would reset PATH: /etc/profile.d/labstack-path.sh keeps the
    # user's environment (docs/your-own-python.md) first, then the image's Jupyter environment.
    found = run_in_terminal(jupyter, "command -v pip python jupyter").split()
    env = "/home/jovyan/.local/share/labstack/envs/python3.13/bin"
    assert found == [f"{env}/pip", f"{env}/python", "/opt/jupyter/bin/jupyter"], found


def test_home_belongs_to_jovyan(jupyter):
    assert_home_belongs_to(jupyter)


def test_healthcheck_passes(jupyter):
    assert jupyter.exec(["healthcheck"]).strip() == "ok"
    # and Docker itself, running the image's HEALTHCHECK (first run about 15 s after start), agrees
    def health():
        jupyter.tracked.container.reload()
        return jupyter.tracked.container.attrs["State"]["Health"]["Status"] == "healthy"

    poll_until(health, 90, 1, lambda: f"never healthy: {jupyter.tracked.container.attrs['State']['Health']}")


def test_labels_carry_versions(jupyter, engine):
    labels = engine.images.get(jupyter.image).labels
    installed = jupyter.exec(["pip", "show", "jupyterlab"])
    assert f"Version: {labels['io.labstack.jupyterlab.version']}" in installed
    # compared as versions, of what is installed ("4.10.0" >= "4.2.0" is False as strings)
    proxy = jupyter.exec(["python", "-c", "from importlib.metadata import version; print(version('jupyter-server-proxy'))"]).strip()
    assert Version(proxy) == Version(labels["io.labstack.jupyter-server-proxy.version"])
    assert Version(proxy) >= Version("4.2.0")  # unix_socket and host_allowlist as the config uses them
    # measured by build.py (images/base/image.toml), checked against what the programs say of themselves
    assert jupyter.exec(["python3", "--version"]).strip() == f"Python {labels['io.labstack.python.version']}"
    assert jupyter.exec(["jupyterhub-singleuser", "--version"]).strip() == labels["io.labstack.jupyterhub.version"]
    os_release = dict(line.split("=", 1) for line in jupyter.exec(["cat", "/etc/os-release"]).splitlines() if "=" in line)
    assert labels["io.labstack.debian.version"].split(".")[0] == os_release["VERSION_ID"].strip('"')
    repository = jupyter.image.rsplit(":", 1)[0]
    for name, prefix in (("python", "python"), ("jupyterlab", "lab"), ("jupyterhub", "hub")):
        value = labels[f"io.labstack.{name}.version"]  # the tag an admin pins a profile to names the same
        assert engine.images.get(f"{repository}:{prefix}-{value}").labels[f"io.labstack.{name}.version"] == value


def test_base_image_neither_pulled_nor_bootstrapped_is_refused(engine):
    before = all_tags(engine)
    result = build_py("build", "base", "--tag", "never", "--base-image", "labstack-test/no-such-image:1",
                      "--network", "host", timeout=300)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert "cannot be pulled" in error and "debootstrap only makes Debian trixie (13) or bookworm (12)" in error
    assert new_tags(engine, before, "*:never") == []


@pytest.mark.layer_image  # labstack-entrypoint's PATH: the same file in every image
def test_a_script_pip_installed_for_the_user_runs_by_name_in_terminal_and_notebook(jupyter, tmp_path):
    """`pip install --user X` puts X's scripts in ~/.local/bin: JupyterLab's terminal and a notebook's
    `!` find them by name, and pip does not warn that they are off PATH."""
    from probes import execute_in_kernel, probe_wheel

    wheel = probe_wheel(tmp_path, "installed-for-the-user")
    jupyter.put_file(wheel)
    output = run_in_terminal(jupyter, f"pip install --user --no-index /tmp/{wheel.name} 2>&1; labstackprobe",
                             timeout=120)
    assert "not on PATH" not in output and output.splitlines()[-1].strip() == "installed-for-the-user", output
    assert execute_in_kernel(jupyter, "python3", "get_ipython().getoutput('labstackprobe')[0]") == \
        "'installed-for-the-user'"
    # the user's environment first (its python and pip), the image's commands next, ~/.local/bin last
    path = execute_in_kernel(jupyter, "python3", "import os; os.environ['PATH'].split(':')")
    assert path.index("/.local/share/labstack/envs/python3.") < path.index("'/opt/jupyter/bin'") < \
        path.index("/.local/bin'"), path


# ---- in a real browser (Debian's chromium through Playwright)

def test_jupyterlab_launcher_shows_every_app_and_runs_python(browser, jupyter, spec):
    from browser import login, run_first_cell, visit

    page_visit = visit(browser, jupyter.base_url)
    page = page_visit.page
    login(page_visit, jupyter)
    servers = jupyter.get("/server-proxy/servers-info").json()["server_processes"]
    titles = [s["launcher_entry"]["title"] for s in servers if s["launcher_entry"]["enabled"]]
    for title in titles:  # every app of the image has a card ("VS Code [↗]" opens a tab), with its icon
        card = page.locator(f".jp-LauncherCard[title^='{title}']")
        assert card.count() == 1, f"no launcher card for {title}"
        image = card.locator(".jp-LauncherCard-icon img")
        if image.count() == 0:  # an app that gives no icon (optional): JupyterLab's tile of its first letter
            letter = card.locator(".jp-LauncherCard-noKernelIcon")
            assert letter.count() == 1 and letter.inner_text().strip() == title[0].upper(), f"{title}: no icon at all"
            continue
        icon = image.get_attribute("src")
        response = jupyter.get(icon)
        assert response.status_code == 200 and b"<svg" in response.content, f"{title}: icon {icon} not served"
    page_visit.screenshot(f"jupyterlab-launcher-{spec.replace('+', '-')}")
    page.locator(".jp-LauncherCard[data-category='Notebook']:has-text('Python 3')").click()
    run_first_cell(page, "print(6*7)", "42")
    # JupyterLab asks nobody whether to fetch its news, and nothing is asked of any other host
    assert page.get_by_text("Jupyter news").count() == 0
    assert page_visit.foreign_requests() == []
    page_visit.page.context.close()


FORM_APP = r'''
import http.server, urllib.parse
class Form(http.server.BaseHTTPRequestHandler):
    def page(self, text):
        body = f"<html><body><p id=said>{text}</p><form method=post action=.>"
        body += "<input name=word><button type=submit>send</button></form></body></html>"
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
        self.wfile.write(body.encode())
    def do_GET(self): self.page("nothing yet")
    def do_POST(self):
        data = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.page("you said " + data["word"][0])
http.server.HTTPServer(("127.0.0.1", PORT), Form).serve_forever()
'''


def test_a_port_started_from_a_terminal_works_in_the_browser(browser, jupyter, spec):
    from browser import login, visit

    # 8080 as a person would pick, unless taken (with host networking the test containers share one
    # loopback; on a bridge, an earlier test's server in this container may hold it)
    port = jupyter.free_port(8080)
    jupyter.exec(["sh", "-c", f"cat > /tmp/form_app.py <<'EOF'\n{FORM_APP.replace('PORT', str(port))}\nEOF"])
    run_in_terminal(jupyter, "(nohup python3 /tmp/form_app.py > /tmp/form_app.log 2>&1 &)")
    page_visit = visit(browser, jupyter.base_url)
    login(page_visit, jupyter)
    for route in (f"/proxy/{port}/", f"/proxy/absolute/{port}/"):
        page_visit.page.goto(f"{jupyter.base_url}{route}")
        page_visit.page.wait_for_selector("#said:has-text('nothing yet')", timeout=30_000)
        page_visit.page.fill("input[name=word]", "hello-through-the-proxy")
        page_visit.page.click("button[type=submit]")
        page_visit.page.wait_for_selector("#said:has-text('you said hello-through-the-proxy')", timeout=30_000)
    page_visit.screenshot(f"proxied-port-{spec.replace('+', '-')}")
    assert page_visit.foreign_requests() == []
    page_visit.page.context.close()


def test_answers_the_image_pre_puller(image, spec):
    # Zero-to-JupyterHub's pre-puller runs this command (as the container's command) in every image it pulls.
    with TestContainer(image(spec), entrypoint=["/bin/sh", "-c", 'echo "Pulling complete"'], command=[],
                          network_mode="none") as tracked:
        container = tracked.run_detached()
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert tracked.logs().strip() == "Pulling complete"


# ---- proxied HTTP streams (labstack_proxy): any size, flat memory, upstream's behaviour kept

# CI runs a reduced size; `make bench` the full one (tests/bench.py). An upload of 1 GB runs in CI too:
# it is past Jupyter's own 512 MB limit on request bodies, which upstream's buffering meets.
DOWNLOAD_MB = int(os.environ.get("LABSTACK_PROXY_TEST_MB", "300"))
UPLOAD_MB = 1024


@pytest.fixture(scope="module")
def proxy_app(jupyter):
    from probes import start_proxy_app

    return start_proxy_app(jupyter)


@pytest.mark.layer_image
@pytest.mark.parametrize("route", ["/proxy/{port}", "/proxy/absolute/{port}"])
def test_a_large_download_streams_with_flat_memory(jupyter, proxy_app, route):
    """Upstream buffers a response whole (599 past 100 MB); streamed, Jupyter's memory stays flat."""
    from probes import jupyter_memory, reset_peak_memory

    size = DOWNLOAD_MB << 20
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    received = 0
    with jupyter.get(f"{route.format(port=proxy_app)}/bytes/{size}", stream=True, timeout=600) as response:
        assert response.status_code == 200, response.text[:300]
        assert int(response.headers["Content-Length"]) == size
        for chunk in response.iter_content(1 << 20):
            received += len(chunk)
    assert received == size
    growth = jupyter_memory(jupyter)["peak_mb"] - before["rss_mb"]
    print(f"\nlabstack: {DOWNLOAD_MB} MB through {route}: Jupyter's peak memory grew {growth:.0f} MB")
    assert growth < 64, f"Jupyter's memory grew {growth:.0f} MB for a {DOWNLOAD_MB} MB download"


@pytest.mark.layer_image
def test_proxied_responses_keep_status_headers_cookies_redirects_head_and_ranges(jupyter, proxy_app):
    base = f"/proxy/{proxy_app}"
    missing = jupyter.get(f"{base}/status/404")
    assert (missing.status_code, missing.text) == (404, "status from the app")
    assert jupyter.get(f"{base}/status/503").status_code == 503
    cookies = jupyter.get(f"{base}/cookies")
    assert cookies.headers["X-Labstack"] == "kept"
    app_cookies = {c.name: c.value for c in cookies.cookies if not c.name.startswith("username-")}  # Jupyter's own
    assert app_cookies == {"first": "1", "second": "2"}
    redirect = jupyter.get(f"{base}/redirect", allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"] == f"{base}/cookies"
    head = requests.head(jupyter.url(f"{base}/bytes/5000"), timeout=30, headers={"Authorization": f"token {jupyter.token}"})
    assert head.status_code == 200 and head.headers["Content-Length"] == "5000" and head.content == b""
    ranged = jupyter.get(f"{base}/bytes/5000", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.headers["Content-Range"] == "bytes 10-19/5000"
    assert ranged.content == bytes(10)


@pytest.mark.layer_image
def test_a_dropped_download_closes_the_apps_connection(jupyter, proxy_app):
    """A browser that goes away mid-download: the app's request ends too, and nothing is left open."""
    import socket

    request = (f"GET /proxy/{proxy_app}/bytes/{4 << 30} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: token {jupyter.token}\r\n\r\n").encode()
    with socket.create_connection((jupyter.host, jupyter.port), timeout=30) as sock:
        sock.sendall(request)
        received = 0
        while received < 8 << 20:  # 8 MB of 4 GB, then gone
            received += len(sock.recv(1 << 20))
    poll_until(lambda: jupyter.get(f"/proxy/{proxy_app}/connections").text == "0", 30, 0.5,
               lambda: "the app is still sending the dropped download")
    assert jupyter.get("/api").status_code == 200


@pytest.mark.layer_image
@pytest.mark.parametrize("method, route, size_mb", [("POST", "/proxy/{port}", UPLOAD_MB),
                                                    ("PUT", "/proxy/absolute/{port}", DOWNLOAD_MB)])
def test_a_large_upload_streams_with_flat_memory(jupyter, proxy_app, method, route, size_mb):
    """Upstream reads a body whole before proxying it (three times its size in memory, and 400 past
    Jupyter's 512 MB); streamed, the app gets every byte in order and Jupyter's memory stays flat."""
    from probes import jupyter_memory, reset_peak_memory, upload

    size = size_mb << 20
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    response, sent_sha256 = upload(jupyter, method, f"{route.format(port=proxy_app)}/upload", size)
    assert response.status_code == 200, response.text[:300]
    assert response.text == f"{size} {sent_sha256}"  # the app's count and hash of what it read
    growth = jupyter_memory(jupyter)["peak_mb"] - before["rss_mb"]
    print(f"\nlabstack: {size_mb} MB {method} through {route}: Jupyter's peak memory grew {growth:.0f} MB")
    assert growth < 64, f"Jupyter's memory grew {growth:.0f} MB for a {size_mb} MB upload"


@pytest.mark.layer_image
def test_small_and_chunked_bodies_reach_the_app_whole(jupyter, proxy_app):
    """Bodies that do not stream (chunked: read whole and sent with a length, as upstream does) or are small."""
    import hashlib

    headers = {"Authorization": f"token {jupyter.token}"}
    small = requests.post(jupyter.url(f"/proxy/{proxy_app}/upload"), data=b"hello", headers=headers, timeout=30)
    assert small.text == f"5 {hashlib.sha256(b'hello').hexdigest()}"
    chunked = requests.put(jupyter.url(f"/proxy/{proxy_app}/upload"), data=iter([b"a" * 3000, b"b" * 3000]),
                           headers=headers, timeout=30)  # a generator: requests sends it chunked
    assert chunked.text == f"6000 {hashlib.sha256(b'a' * 3000 + b'b' * 3000).hexdigest()}"
    empty = requests.post(jupyter.url(f"/proxy/{proxy_app}/upload"), headers=headers, timeout=30)
    assert empty.text == f"0 {hashlib.sha256(b'').hexdigest()}"
    refused = requests.post(jupyter.url(f"/proxy/{proxy_app}/upload"), data=b"x" * 100_000, timeout=30)
    assert refused.status_code == 403  # no token: refused before any of the body goes to the app


@pytest.mark.layer_image
def test_a_dropped_upload_closes_the_apps_connection(jupyter, proxy_app):
    import socket

    request = (f"POST /proxy/{proxy_app}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: token {jupyter.token}\r\nContent-Length: {4 << 30}\r\n\r\n").encode()
    with socket.create_connection((jupyter.host, jupyter.port), timeout=30) as sock:
        sock.sendall(request)
        for _ in range(8):  # 8 MB of 4 GB, then gone
            sock.sendall(bytes(1 << 20))
        poll_until(lambda: jupyter.get(f"/proxy/{proxy_app}/connections").text == "1", 30, 0.5,
                   lambda: "the upload never reached the app")
    poll_until(lambda: jupyter.get(f"/proxy/{proxy_app}/connections").text == "0", 30, 0.5,
               lambda: "the app is still reading the dropped upload")
    assert jupyter.get("/api").status_code == 200


@pytest.mark.layer_image
@pytest.mark.parametrize("route", ["/proxy/{port}", "/proxy/absolute/{port}"])
def test_websockets_stream_and_echo_through_the_proxy(jupyter, proxy_app, route):
    import websocket  # websocket-client

    from probes import websocket_stream_seconds

    url = f"ws://{jupyter.host}:{jupyter.port}{route.format(port=proxy_app)}"
    headers = [f"Authorization: token {jupyter.token}"]
    websocket_stream_seconds(f"{url}/ws/stream/{20 << 20}", headers, 20 << 20)
    ws = websocket.create_connection(f"{url}/ws/echo", header=headers, timeout=30)
    try:
        for message in ("hello", bytes(range(256)) * 400):
            ws.send_binary(message) if isinstance(message, bytes) else ws.send(message)
            assert ws.recv() == message
    finally:
        ws.close()
    assert jupyter.websocket_status(f"{route.format(port=proxy_app)}/ws/echo", token=False) == 403


@pytest.mark.layer_image
def test_keep_alive_connections_survive_a_refusal_and_a_proxied_answer(jupyter, proxy_app):
    """One connection, as a browser keeps it: a login redirect, then proxied answers, then the redirect
    again. (Run before the request is read to its end, a refusal would make Tornado close it.)"""
    from probes import answers_on_one_connection

    tokens = (False, True, True, False)
    path = f"/proxy/{proxy_app}/status/200"
    sent = [("GET", path, {"Authorization": f"token {jupyter.token}"} if token else {}) for token in tokens]
    assert answers_on_one_connection(jupyter.host, jupyter.port, sent) == [200 if token else 302 for token in tokens]
