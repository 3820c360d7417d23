"""End to end with a real JupyterHub and two users: configurable-http-proxy in front, DockerSpawner
with its default networking (each user's container in its own network namespace on the docker bridge,
its port published on 127.0.0.1), so one user's loopback services are not everyone's.

alice gets two servers: the code-server image (default) and rstudio+code-server (named "r"), so every
route of every image is behind the hub. bob has no server, but a token and a logged-in browser session
of his own: neither may reach anything of alice's, over HTTP or websocket. The auth matrix tries every
route with every credential and method and counts what got through that should not have.

Everything runs on both layouts (realhub.LAYOUTS): one domain, and per-user subdomains. The hub itself
is tests/support/realhub.py.
"""
import secrets
import uuid

import pytest
import requests


from jupyter_container import answers, poll_until
from realhub import LAYOUTS, api, app_images_hub, login, server_url, spawn_all, user_token, websocket_status

PREFIX = "labstack-e2e"  # the hub's containers: PREFIX-<user>, the cleanup's filter too

SPAWNER_CONFIG = """
c.JupyterHub.allow_named_servers = True
c.DockerSpawner.allowed_images = {images}
c.Spawner.default_url = "/lab"
"""

# A page served inside alice's container on its own loopback, reachable only through her server.
PAGE_SERVER = ("mkdir -p /tmp/site && echo {marker} > /tmp/site/marker.txt && "
               "cd /tmp/site && exec python3 -m http.server 8080 --bind 127.0.0.1")


@pytest.fixture(scope="module", params=LAYOUTS)
def hub(request, image, engine, tmp_path_factory):
    with app_images_hub(image, engine, tmp_path_factory.mktemp("hub"), PREFIX, SPAWNER_CONFIG, request.param) as hub:
        yield hub


@pytest.fixture(scope="module")
def users(hub, engine):
    for name in ("alice", "bob"):
        assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
    spawn_all(hub, [("alice", "", {"image": "code-server"}), ("alice", "r", {"image": "rstudio-code-server"})])
    marker = f"alice-page-{uuid.uuid4().hex[:8]}"
    container = engine.containers.get(f"{PREFIX}-alice")
    container.exec_run(["sh", "-c", PAGE_SERVER.format(marker=marker)], user="1000", detach=True)
    poll_until(lambda: container.exec_run(["curl", "-fsS", "http://127.0.0.1:8080/marker.txt"]).exit_code == 0,
               30, 0.5, lambda: "the page server in alice's container did not start")
    users = {
        "alice": server_url(hub, "alice"), "alice_r": f"{server_url(hub, 'alice')}/r", "marker": marker,
        "alice_token": user_token(hub, "alice"), "bob_token": user_token(hub, "bob"),
        "alice_session": login(hub, "alice"), "bob_session": login(hub, "bob"), "container": container,
    }
    open_apps_once(users)
    yield users
    api(hub, "DELETE", "/users/alice/servers/r")
    api(hub, "DELETE", "/users/alice/server")


def open_apps_once(users) -> None:
    """Open each app the matrix reaches as alice, once, as her first visit would, and wait until it
    answers. An app starts on its first request; under a loaded run Shiny Server's first page took
    longer than the matrix's 30 s per request, and the matrix is about who gets in, not how fast."""
    headers = {"Authorization": f"token {users['alice_token']}"}

    def status(url):
        try:
            return requests.get(url, headers=headers, timeout=60).status_code
        except requests.RequestException:
            return None

    for server, path in (("alice", "/vscode/"), ("alice_r", "/vscode/"), ("alice_r", "/shiny/")):
        url = f"{users[server]}{path}"
        poll_until(lambda: status(url) == 200, 180, 2, lambda: f"{url} never answered alice's token with 200")


def test_each_user_server_has_its_own_network_namespace(users, engine):
    container = users["container"]
    assert container.attrs["HostConfig"]["NetworkMode"] == f"{PREFIX}-net-alice"  # her own network (build.py dockerspawner)
    bindings = [b for ports in container.attrs["NetworkSettings"]["Ports"].values() for b in ports or []]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings
    processes = container.exec_run(["ps", "-eo", "uid=,args="]).output.decode()
    assert any(line.split()[0] == "1000" and "jupyterhub-singleuser" in line for line in processes.splitlines())
    # alice's page listens on her container's loopback: not on this machine's
    assert answers("http://127.0.0.1:8080/marker.txt", timeout=2) is None


def test_alice_follows_user_redirect_to_her_own_page(hub, users):
    def fetch():
        response = users["alice_session"].get(f"{hub['public_url']}/hub/user-redirect/proxy/8080/marker.txt", timeout=30)
        return response if response.status_code == 200 else None

    response = poll_until(fetch, 60, 1, lambda: f"alice's page never answered:\n{hub['log'].read_text()[-2000:]}")
    assert response.text.strip() == users["marker"]
    assert response.url.startswith(f"{users['alice']}/proxy/8080/")


def test_a_token_scoped_to_alices_server_reaches_it_and_bobs_does_not(hub, users):
    url = f"{users['alice']}/proxy/8080/marker.txt"
    scoped = user_token(hub, "alice", ["access:servers!server=alice/"])
    response = requests.get(url, timeout=30, headers={"Authorization": f"token {scoped}"})
    assert response.status_code == 200 and response.text.strip() == users["marker"]
    bobs = user_token(hub, "bob", ["access:servers!user=bob"])
    response = requests.get(url, timeout=30, headers={"Authorization": f"token {bobs}"}, allow_redirects=False)
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/vscode/", "/lab", "/api/contents", "/proxy/8080/"])
def test_bob_is_refused_alices_routes(hub, users, path):
    url = f"{users['alice']}{path}"
    by_token = requests.get(url, timeout=30, headers={"Authorization": f"token {users['bob_token']}"}, allow_redirects=False)
    assert by_token.status_code == 403, (path, by_token.status_code)
    by_cookie = users["bob_session"].get(url, timeout=30)  # through the hub's OAuth dance, as a browser would
    assert by_cookie.status_code == 403, (path, by_cookie.status_code, by_cookie.url)
    assert users["marker"] not in by_cookie.text
    assert websocket_status(url, token=users["bob_token"]) == 403
    assert websocket_status(url, cookies=users["bob_session"].cookies) in (302, 403)


# ---- the auth matrix: every route of every image, every credential, GET, POST and websocket

ROUTES = [("alice", path) for path in ("/lab", "/api/contents", "/api/kernels", "/api/terminals",
                                        "/terminals/websocket/1", "/vscode/", "/proxy/8080/",
                                        "/proxy/absolute/8080/", "/server-proxy/servers-info")]
ROUTES += [("alice_r", path) for path in ("/shiny/", "/rstudio/", "/vscode/", "/api/contents")]
CREDENTIALS = ["none", "wrong token", "bob's token", "bob's cookie", "alice's token"]
METHODS = ["GET", "POST", "WS"]


def attempt(users, credential, method, url):
    """The status a credential gets: HTTP redirects inside alice's server are followed (at most 3, with
    the same credential); a redirect into the hub (its login or OAuth pages) is the answer."""
    token = {"wrong token": secrets.token_hex(16), "bob's token": users["bob_token"],
             "alice's token": users["alice_token"]}.get(credential)
    cookies = users["bob_session"].cookies if credential == "bob's cookie" else None
    if method == "WS":
        return websocket_status(url, token=token, cookies=cookies)
    headers = {"Authorization": f"token {token}"} if token else {}
    for _ in range(3):
        response = requests.request(method, url, headers=headers, cookies=cookies, timeout=30, allow_redirects=False)
        location = response.headers.get("Location", "")
        if response.status_code not in (301, 302, 303, 307, 308) or "/hub/" in location:
            break
        url = requests.compat.urljoin(url, location)
    return response.status_code


def got_through(status: int) -> bool:
    """Something was served (2xx) or a connection upgraded (101): what only alice may get."""
    return 200 <= status < 300 or status == 101


def test_auth_matrix_lets_only_alice_in(hub, users, capsys):
    lines, unexpected, cells = [], [], 0
    header = f"{'route':<40} {'method':<6} " + " ".join(f"{c:>14}" for c in CREDENTIALS)
    for server, path in ROUTES:
        url = f"{users[server]}{path}"
        for method in METHODS:
            row = []
            for credential in CREDENTIALS:
                status = attempt(users, credential, method, url)
                cells += 1
                row.append(f"{status:>14}")
                if credential != "alice's token" and got_through(status):
                    unexpected.append(f"{credential} {method} {url} -> {status}")
            lines.append(f"{url.split('/user/', 1)[1]:<40} {method:<6} " + " ".join(row))
    alice_get = {line.split()[0] for line in lines if line.split()[1] == "GET" and line.split()[-1] == "200"}
    with capsys.disabled():
        print(f"\nauth matrix through the hub: {cells} cells, {len(unexpected)} unexpected successes\n{header}")
        print("\n".join(lines))
    assert unexpected == [], "\n".join(unexpected)
    # the right credential does get in: the matrix is not refusing everything
    for served in ("alice/lab", "alice/api/contents", "alice/vscode/", "alice/r/shiny/", "alice/proxy/8080/"):
        assert served in alice_get, f"{served} did not answer alice's token with 200:\n" + "\n".join(lines)
