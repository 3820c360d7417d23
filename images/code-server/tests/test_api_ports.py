"""Port-scoped hub tokens through a real JupyterHub (labstack_proxy.api_ports): an API client's token
reaches the ports the admin named on one user's server, and nothing else.

One hub (one domain: a token's reach does not depend on the layout), DockerSpawner, alice's server on
the code-server image with LABSTACK_API_PORTS=5000 and a 5 s token cache; tests/support/proxy_app.py
answers on 5000 and on 5001 (a port not named) inside her container. The hub registers the custom scope
and grants it to users through their role, as docs/api-ports.md tells an admin to.
"""
import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from labstack.containers import remove_stray_containers

from tracked import session_filter
from jupyter_container import copy_into, free_loopback_port, poll_until
from realhub import docker_spawner_config, api, running_hub, server_url, spawn_all, user_token, websocket_status
from services import require
from labstack import REPO_ROOT

PREFIX = "labstack-api"  # the hub's containers: PREFIX-<user>, the cleanup's filter too

SCOPE = "custom:labstack:api-port"
CACHE_SECONDS = 5
API_PORT, OTHER_PORT = 5000, 5001

SPAWNER_CONFIG = """
c.DockerSpawner.environment = {environment!r}
c.JupyterHub.custom_scopes = {{"{scope}": {{"description": "Reach the API ports of a server (labstack)"}}}}
c.JupyterHub.load_roles = c.JupyterHub.load_roles + [
    {{"name": "user", "scopes": ["self", "shares!user", "read:users:name", "{scope}!user"]}},
]
"""


@pytest.fixture(scope="module")
def cors_origins():
    """Two loopback origins for the browser's pages: the one the admin lists, and one it does not."""
    return {"listed": f"http://127.0.0.1:{free_loopback_port()}", "unlisted": f"http://127.0.0.1:{free_loopback_port()}"}


@pytest.fixture(scope="module")
def hub(image, engine, tmp_path_factory, cors_origins):
    try:
        import dockerspawner  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    environment = {"LABSTACK_API_PORTS": str(API_PORT), "LABSTACK_TOKEN_CACHE_SECONDS": str(CACHE_SECONDS),
                   "LABSTACK_API_CORS_ORIGINS": f"{API_PORT}={cors_origins['listed']}"}
    spawner = docker_spawner_config(PREFIX, image("code-server")) + SPAWNER_CONFIG.format(
        environment=environment, scope=SCOPE)
    try:
        with running_hub(engine, tmp_path_factory.mktemp("hub"), spawner) as hub:
            yield hub
    finally:
        remove_stray_containers(session_filter(), prefix=PREFIX)


def hub_as(hub, token, method, path, **kwargs):
    return requests.request(method, f"{hub['url']}/hub/api{path}", timeout=30,
                            headers={"Authorization": f"token {token}"}, **kwargs)


@pytest.fixture(scope="module")
def alice(hub, engine):
    for name in ("alice", "bob"):
        assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
    spawn_all(hub, [("alice", "", {})])
    container = engine.containers.get(f"{PREFIX}-alice")
    app = copy_into(container, REPO_ROOT / "tests" / "support" / "proxy_app.py")
    for port in (API_PORT, OTHER_PORT):
        container.exec_run(["python3", app, str(port)], user="1000", detach=True)
    url = server_url(hub, "alice")
    full = user_token(hub, "alice")
    poll_until(lambda: requests.get(f"{url}/proxy/{OTHER_PORT}/status/200", timeout=10,
                                    headers={"Authorization": f"token {full}"}).status_code == 200,
               30, 0.5, lambda: "the test apps in alice's container did not start")
    terminal = requests.post(f"{url}/api/terminals", timeout=30, headers={"Authorization": f"token {full}"})
    assert terminal.status_code == 200, terminal.text
    # alice shares her API port with bob, with her own token, through JupyterHub's sharing
    shared = hub_as(hub, full, "POST", "/shares/alice/", json={"user": "bob", "scopes": [f"{SCOPE}!server=alice/"]})
    assert shared.status_code in (200, 201), shared.text
    yield {"url": url, "container": container, "terminal": terminal.json()["name"], "full": full}
    api(hub, "DELETE", "/users/alice/server")


@pytest.fixture(scope="module")
def credentials(hub, alice):
    """Every kind of credential of the matrix, by name -> token ("" for none)."""
    revoked = api(hub, "POST", "/users/alice/tokens", json={"scopes": [f"{SCOPE}!server=alice/"]}).json()
    assert api(hub, "DELETE", f"/users/alice/tokens/{revoked['id']}").status_code == 204
    expired = api(hub, "POST", "/users/alice/tokens", json={"scopes": [f"{SCOPE}!server=alice/"], "expires_in": 1})
    assert expired.status_code == 201, expired.text
    time.sleep(2)  # JupyterHub refuses a token from the second its expiry passes
    return {
        "alice's narrow token": user_token(hub, "alice", [f"{SCOPE}!server=alice/"]),
        "bob's narrow token for his own server": user_token(hub, "bob", [f"{SCOPE}!server=bob/"]),
        "bob's token for his own servers": user_token(hub, "bob", ["access:servers!user=bob"]),
        # no scopes named: all bob holds, alice's share of her port included (JupyterHub's "inherit")
        "bob's ordinary token": user_token(hub, "bob"),
        "alice's full token": alice["full"],
        "bob's narrow token for alice's shared server": user_token(hub, "bob", [f"{SCOPE}!server=alice/"]),
        "a revoked narrow token": revoked["token"],
        "an expired narrow token": expired.json()["token"],
        "no token": "",
    }


# What each credential may reach: the narrow ones alice's allowed port only; her full token everything.
PORT_ONLY = {"port GET", "port POST", "port websocket", "port websocket, token in URL"}
EXPECTED = {
    "alice's narrow token": PORT_ONLY,
    "bob's narrow token for alice's shared server": PORT_ONLY,
    "alice's full token": "everything",
}


def targets(alice):
    url, terminal = alice["url"], alice["terminal"]
    return {
        "port GET": ("GET", f"{url}/proxy/{API_PORT}/headers"),
        "port POST": ("POST", f"{url}/proxy/{API_PORT}/uploads"),
        "port websocket": ("WS", f"{url}/proxy/{API_PORT}/ws/echo"),
        "port websocket, token in URL": ("WS-URL", f"{url}/proxy/{API_PORT}/ws/echo"),
        "other port": ("GET", f"{url}/proxy/{OTHER_PORT}/headers"),
        "port by /proxy/absolute/": ("GET", f"{url}/proxy/absolute/{API_PORT}/headers"),
        "port by /proxy/localhost:PORT/": ("GET", f"{url}/proxy/localhost:{API_PORT}/headers"),
        "/api/contents": ("GET", f"{url}/api/contents"),
        "/api/kernels POST": ("POST", f"{url}/api/kernels"),
        "/lab": ("GET", f"{url}/lab"),
        "terminal websocket": ("WS", f"{url}/terminals/websocket/{terminal}"),
        "/vscode/": ("GET", f"{url}/vscode/"),
    }


def reached(method, url, token) -> bool:
    """Whether the request got through: 200 or 201, a websocket's 101, or a redirect within the server
    (code-server's /vscode/ sends a browser on to its workspace); never a redirect to the hub's login."""
    if method == "WS":
        return websocket_status(url, token=token or None) == 101
    if method == "WS-URL":
        return websocket_status(f"{url}?token={token}" if token else url) == 101
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = b"{}" if method == "POST" else None  # JSON for /api/kernels: a kernel of the default kind
    response = requests.request(method, url, data=body, headers=headers, timeout=30, allow_redirects=False)
    if response.status_code in (301, 302, 303, 307):
        return "/hub/" not in response.headers.get("Location", "/hub/")
    return response.status_code in (200, 201)


def test_the_matrix_of_credentials_and_routes(alice, credentials, hub):
    """Every credential against every route of alice's server: what reached it that should not have,
    and what should have and did not, printed; both counts must be 0."""
    unexpected, missing = [], []
    routes = targets(alice)
    for credential, token in credentials.items():
        allowed = EXPECTED.get(credential, set())
        for route, (method, url) in routes.items():
            should = allowed == "everything" or route in allowed
            got = reached(method, url, token)
            if got and not should:
                unexpected.append(f"{credential} reached {route}")
            elif should and not got:
                missing.append(f"{credential} did not reach {route}")
    size = len(credentials) * len(routes)
    print(f"\nlabstack: port-token matrix {len(credentials)} credentials x {len(routes)} routes = {size}; "
          f"unexpected successes {len(unexpected)}, expected and refused {len(missing)}")
    for line in unexpected + missing:
        print(f"labstack:   {line}")
    assert (unexpected, missing) == ([], []), hub["log"].read_text()[-2000:]


def test_the_app_never_sees_the_hub_token(alice, credentials):
    token = credentials["alice's narrow token"]
    seen = requests.get(f"{alice['url']}/proxy/{API_PORT}/headers?token={token}&kept=1", timeout=30,
                        headers={"Authorization": f"token {token}"}).json()
    assert "authorization" not in seen["headers"], seen
    assert seen["path"].endswith("/headers?kept=1"), seen  # a token in the URL is taken out too
    assert token not in json.dumps(seen)


def test_a_narrow_token_never_becomes_a_cookie(alice, credentials):
    """Never by cookie: a narrow token in a page's URL (where JupyterHub would take a full one and set its
    login cookie from it) opens nothing and sets no cookie; only a websocket may carry one in its URL."""
    token = credentials["alice's narrow token"]
    response = requests.get(f"{alice['url']}/proxy/{API_PORT}/headers?token={token}", timeout=30, allow_redirects=False)
    assert response.status_code in (302, 403), response.status_code
    assert "jupyterhub-user-alice" not in response.cookies, response.headers  # the login cookie's name


def test_revoked_and_expired_tokens_stop_within_the_cache_time(alice, hub):
    """A narrow token that worked a moment ago stops working within LABSTACK_TOKEN_CACHE_SECONDS of its
    revocation, and of its expiry."""
    url = f"{alice['url']}/proxy/{API_PORT}/headers"
    delays = {}
    for case in ("revoked", "expired"):
        expires = {"expires_in": 4} if case == "expired" else {}
        made = api(hub, "POST", "/users/alice/tokens", json={"scopes": [f"{SCOPE}!server=alice/"], **expires})
        token = made.json()["token"]
        assert requests.get(url, timeout=30, headers={"Authorization": f"token {token}"}).status_code == 200
        if case == "revoked":
            assert api(hub, "DELETE", f"/users/alice/tokens/{made.json()['id']}").status_code == 204
            ended = time.monotonic()
        else:
            ended = time.monotonic() + 4 - 0.5  # minted half a second or less before: its expiry, at the latest
        poll_until(lambda: requests.get(url, timeout=30, headers={"Authorization": f"token {token}"},
                                        allow_redirects=False).status_code in (302, 403),
                   CACHE_SECONDS + 20, 0.25, lambda: f"the {case} token still works")
        delays[case] = time.monotonic() - ended
    print(f"\nlabstack: a narrow token stopped working {delays['revoked']:.1f} s after its revocation and "
          f"{delays['expired']:.1f} s after its expiry (cache {CACHE_SECONDS} s)")
    assert all(delay <= CACHE_SECONDS + 2 for delay in delays.values()), delays


def test_the_servers_own_token_cannot_mint_tokens(alice):
    probe = ("import json, os, urllib.request, urllib.error\n"
             "request = urllib.request.Request(os.environ['JUPYTERHUB_API_URL'] + '/users/alice/tokens', method='POST',"
             " data=json.dumps({'scopes': ['" + SCOPE + "!server=alice/']}).encode(),"
             " headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']})\n"
             "try:\n    print(urllib.request.urlopen(request).status)\n"
             "except urllib.error.HTTPError as error:\n    print(error.code)\n")
    result = alice["container"].exec_run(["python3", "-c", probe], user="1000")
    assert result.output.decode().strip() == "403", result.output.decode()


def test_a_preflight_answers_cors_for_the_listed_origin_only(alice, cors_origins):
    url = f"{alice['url']}/proxy/{API_PORT}/headers"
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    listed = requests.options(url, timeout=30, headers={"Origin": cors_origins["listed"], **asked})
    assert listed.status_code == 204 and listed.headers["Access-Control-Allow-Origin"] == cors_origins["listed"]
    assert "Access-Control-Allow-Credentials" not in listed.headers
    other = requests.options(url, timeout=30, headers={"Origin": cors_origins["unlisted"], **asked})
    assert other.status_code == 204 and "Access-Control-Allow-Origin" not in other.headers
    jupyter = requests.options(f"{alice['url']}/api/contents", timeout=30, allow_redirects=False,
                               headers={"Origin": cors_origins["listed"], **asked})
    assert "Access-Control-Allow-Origin" not in jupyter.headers  # Jupyter's own CORS stays off


def test_a_preflight_keeps_the_connection_the_hubs_proxy_sends_the_next_request_on(alice, cors_origins):
    """On one connection to alice's server, as the hub's proxy keeps it alive: a preflight, then the
    request it allowed, twice. (Answered before its request was read, a preflight made Tornado close
    the connection; the hub's proxy sent the browser's fetch on it and answered 503 "socket hang up".)"""
    from probes import answers_on_one_connection

    container = alice["container"]
    container.reload()
    published = next(binding[0]["HostPort"] for binding in container.ports.values() if binding)
    path = f"{urlsplit(alice['url']).path}/proxy/{API_PORT}/headers"
    asked = {"Origin": cors_origins["listed"], "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}
    sent = [("OPTIONS", path, asked), ("GET", path, {"Authorization": f"token {alice['full']}"})] * 2
    assert answers_on_one_connection("127.0.0.1", int(published), sent) == [204, 200, 204, 200]


def fetch_from(browser, origin: str, script: str) -> tuple[str, list[str]]:
    """What `script` returned on a page of `origin`, and what the browser said: each failed request's
    net error and each console message (a CORS refusal names the policy there)."""
    said: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("requestfailed", lambda request: said.append(f"{request.url}: {request.failure}"))
        page.on("console", lambda message: said.append(message.text))
        page.goto(f"{origin}/index.html")
        return page.evaluate(script), said
    finally:
        context.close()


def test_a_page_on_a_listed_origin_calls_the_port_with_fetch_and_others_cannot(alice, credentials, browser,
                                                                                cors_origins, tmp_path):
    """In chromium: a page served from another loopback origin calls alice's API port with fetch and a
    bearer token; the same page from an origin not listed is refused by the browser, by its CORS policy."""
    from services import Service, wait_for_url

    token = credentials["alice's narrow token"]
    (tmp_path / "index.html").write_text("<!doctype html><title>api client</title>")
    script = f"""async () => {{
        try {{
            const response = await fetch({json.dumps(alice['url'] + f'/proxy/{API_PORT}/headers')},
                                         {{headers: {{Authorization: "Bearer {token}"}}}});
            return String(response.status);
        }} catch (error) {{ return "refused: " + error.message; }}
    }}"""
    results, said = {}, {}
    for name, origin in cors_origins.items():
        port = origin.rsplit(":", 1)[1]
        server = Service(["python3", "-m", "http.server", port, "--bind", "127.0.0.1"], tmp_path)
        try:
            wait_for_url(f"{origin}/index.html", server.process, server.log, timeout=30)
            results[name], said[name] = fetch_from(browser, origin, script)
        finally:
            server.stop()
    assert results["listed"] == "200", (results, said)
    assert results["unlisted"].startswith("refused"), (results, said)
    assert any("CORS policy" in line for line in said["unlisted"]), said

