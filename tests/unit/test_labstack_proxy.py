"""labstack_proxy (images/base/labstack-proxy), against the upstream it was written for: installed on the
host from requirements-dev.txt, the package editable and jupyter-server-proxy at the image's pin."""
import asyncio
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

jupyter_server_proxy = pytest.importorskip("jupyter_server_proxy", reason="pip install -r requirements-dev.txt")
import labstack_proxy  # noqa: E402
from labstack_proxy import own_pages, restarts, standalone_proxy, streaming, uploads, upstream  # noqa: E402


def test_the_pinned_version_is_supported():
    from labstack.pins import pinned

    assert pinned("base")["JUPYTER_SERVER_PROXY_VERSION"] in upstream.SUPPORTED["jupyter-server-proxy"]
    assert upstream.problems() == []  # the installed upstream is the one it was written for
    upstream.check()


def _stopped() -> str:
    with pytest.raises(SystemExit) as stopped:
        upstream.check()
    assert "\n" not in str(stopped.value)
    return str(stopped.value)


@pytest.mark.parametrize("distribution", ["jupyter-server-proxy", "jupyterhub", "tornado", "simpervisor"])
def test_another_version_stops_with_one_line(monkeypatch, distribution):
    monkeypatch.setitem(upstream.SUPPORTED, distribution, ("9.0.0",))
    assert f"written for {distribution} 9.0.0, found " in _stopped()


def test_a_missing_internal_stops_with_one_line(monkeypatch):
    from jupyter_server_proxy.standalone import app

    monkeypatch.delattr(app, "make_standalone_proxy")  # an internal this package replaces
    assert "no jupyter_server_proxy.standalone.app.make_standalone_proxy" in _stopped()


def test_a_replaced_method_with_other_parameters_stops_with_one_line(monkeypatch):
    from jupyter_server_proxy.handlers import ProxyHandler

    monkeypatch.setattr(ProxyHandler, "proxy", lambda self, host, port, proxied_path, body=None: None)
    assert "ProxyHandler.proxy is (self, host, port, proxied_path, body), not (self, host, port, proxied_path)" in _stopped()


def test_a_private_name_upstream_stopped_using_stops_with_one_line(monkeypatch):
    monkeypatch.setattr(upstream, "USED_IN_SOURCE", [("tornado.web", "RequestHandler.clear", ("self._gone = ",))])
    assert "tornado.web.RequestHandler.clear no longer uses self._gone" in _stopped()


def test_every_replaced_name_is_a_listed_internal():
    listed = {attribute.split(".")[-1] for _, attribute, _ in upstream.INTERNALS}
    assert {name for _, name, _ in labstack_proxy.replacements()} <= listed


class UpstreamStandaloneHandler:
    """What upstream's standalone handler does in prepare(): nothing."""
    def __init__(self, method, upgrade, user):
        self.request = SimpleNamespace(method=method, headers={"Upgrade": upgrade} if upgrade else {}, path="/vscode/")
        self.settings = {"base_url": "/"}
        self.current_user = user

    def prepare(self):
        pass


@pytest.mark.parametrize("method, upgrade, user, refused", [
    ("GET", "websocket", None, True),       # a websocket from nobody: refused (upstream let it through)
    ("GET", "WebSocket", None, True),
    ("GET", "websocket", {"name": "alice"}, False),
    ("GET", None, None, False),             # plain HTTP: upstream's own @web.authenticated in proxy() decides
    ("POST", None, None, False),
])
def test_websocket_upgrades_need_the_hub_user(method, upgrade, user, refused):
    from tornado import web

    handler = standalone_proxy.authenticating_websockets(UpstreamStandaloneHandler)(method, upgrade, user)
    if refused:
        with pytest.raises(web.HTTPError) as error:
            handler.prepare()
        assert error.value.status_code == 403
    else:
        handler.prepare()


def test_no_authentication_is_refused(monkeypatch):
    from jupyter_server_proxy.handlers import ProxyHandler
    from jupyter_server_proxy.standalone import app

    # put back afterwards: what standalone_main replaces for the process it runs in
    monkeypatch.setattr(app, "make_standalone_proxy", app.make_standalone_proxy)
    monkeypatch.setattr(app, "start_activity_update", app.start_activity_update)
    monkeypatch.setattr(ProxyHandler, "_record_activity", ProxyHandler._record_activity)
    monkeypatch.setattr(ProxyHandler, "on_message", ProxyHandler.on_message)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:1/")
    try:
        with pytest.raises(SystemExit) as stopped:
            standalone_proxy.standalone_main(["--no-authentication", "--", "true"])
    finally:
        app.StandaloneProxyServer.clear_instance()
        upstream.UPSTREAM.clear()
    assert "labstack_proxy: refusing --no-authentication" in str(stopped.value)


def test_response_headers_pass_as_upstream_would():
    handler = SimpleNamespace(absolute_url=False,
                              _rewrite_location_header=lambda value, host, port, path: f"/proxy/{port}{value}")
    lines = ["Set-Cookie: a=1\r\n", "Set-Cookie: b=2\r\n", "Connection: keep-alive\r\n", "Transfer-Encoding: chunked\r\n",
             "Location: /next\r\n", "Content-Length: 0\r\n", "X-App: kept\r\n"]
    code, reason, headers = streaming.response_headers(handler, "HTTP/1.1 302 Found", lines, "localhost", 8000, "/old")
    assert (code, reason) == (302, "Found")
    assert headers == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Location", "/proxy/8000/next"),
                       ("Content-Length", "0"), ("X-App", "kept")]
    _, _, kept = streaming.response_headers(handler, "HTTP/1.1 200 OK", ["Location: /next\r\n"], "localhost", 8000, "/")
    assert kept == [("Location", "/next")]  # only a redirect's Location gets the prefix


def test_install_replaces_only_what_it_says_and_only_once():
    changed = labstack_proxy.replacements()
    # by owner and name: two owners' write_message are replaced (a proxied websocket's and a terminal's)
    original = {(owner, name): vars(owner).get(name) for owner, name, _ in changed}
    try:
        labstack_proxy.install()
        labstack_proxy.install()
        for owner, name, value in changed:
            assert getattr(owner, name) is value, name
        for (owner, name), value in original.items():  # the replacements call these, not themselves
            assert value is None or name == "write_message" or upstream.UPSTREAM[name] is value, name
        assert upstream.UPSTREAM["_stream_request_body"] is False
    finally:
        for (owner, name), value in original.items():
            if value is None:
                delattr(owner, name)  # it was inherited: inherit it again
            else:
                setattr(owner, name, value)
        upstream.UPSTREAM.clear()


async def _produced(body, chunks_in):
    written = []

    async def write(chunk):
        written.append(chunk)

    producer = asyncio.ensure_future(body.produce(write))
    body.request = producer  # stands for the app's request, which runs the producer
    for chunk in chunks_in:
        await body.received(chunk)
    return producer, written


def test_a_request_body_reaches_the_app_in_order_with_at_most_a_few_chunks_held():
    async def run():
        body = uploads.RequestBody()
        chunks = [bytes([n]) * 10 for n in range(3 * uploads.UPLOAD_QUEUE)]
        producer, written = await _produced(body, chunks)
        assert body.chunks.qsize() <= uploads.UPLOAD_QUEUE
        await body.end()
        await asyncio.wait_for(producer, 5)
        return chunks, written

    chunks, written = asyncio.run(run())
    assert written == chunks


def test_a_browser_gone_mid_upload_ends_the_apps_request():
    from tornado import iostream

    async def run():
        body = uploads.RequestBody()
        producer, written = await _produced(body, [b"first"])
        body.abort()
        with pytest.raises(iostream.StreamClosedError):
            await asyncio.wait_for(producer, 5)
        return written

    assert asyncio.run(run()) == [b"first"]


def test_the_rest_of_a_body_is_dropped_once_the_apps_request_ended():
    async def run():
        body = uploads.RequestBody()
        body.request = asyncio.get_running_loop().create_future()
        body.request.set_result(None)  # the app answered before the body was all in
        for _ in range(3 * uploads.UPLOAD_QUEUE):  # nobody takes chunks: must not block
            await asyncio.wait_for(body.received(b"x"), 5)
        await asyncio.wait_for(body.end(), 5)

    asyncio.run(run())


def test_descendants_finds_the_whole_tree():
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        import time

        for _ in range(50):  # the shell starts its two children
            found = restarts.descendants(parent.pid)
            if len(found) == 2:
                break
            time.sleep(0.1)
        assert len(found) == 2 and parent.pid not in found
    finally:
        for pid in restarts.descendants(parent.pid):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()


# ---- other users' pages (own_pages)

def _request(headers=None, host="hub.example", method="POST", user="alice", base_url="/user/alice/"):
    from tornado import httputil

    request = SimpleNamespace(headers=httputil.HTTPHeaders(headers or {}), protocol="https", host=host,
                              method=method, path=f"{base_url}proxy/9090/", query_arguments={})
    return SimpleNamespace(request=request, base_url=base_url, current_user=SimpleNamespace(username=user),
                           _headers=httputil.HTTPHeaders(), get_query_argument=lambda name, default: default)


OWN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Origin": "https://hub.example",
       "Referer": "https://hub.example/user/alice/vscode/"}


@pytest.mark.parametrize("changed, refused", [
    ({}, ""),  # alice's own page
    ({"Referer": "https://hub.example/user/mallory/proxy/8080/"}, "Referer is /user/mallory/proxy/8080/"),
    ({"Referer": "https://hub.example/user/alicebob/"}, "Referer is /user/alicebob/"),  # a prefix, not a path in it
    ({"Referer": "https://mallory.hub.example/user/mallory/"}, "Referer is another origin"),
    ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site is cross-site"),  # a sandboxed page
    ({"Origin": "https://mallory.hub.example", "Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site is same-site"),
    ({"Origin": "null"}, "Origin is null"),
    ({"Sec-Fetch-Site": "none", "Origin": None, "Referer": None}, ""),  # typed into the address bar
])
def test_a_cookie_request_must_come_from_this_servers_own_pages(changed, refused):
    headers = {name: value for name, value in {**OWN, **changed}.items() if value is not None}
    assert own_pages.own_page_refusal(_request(headers)).split(",")[0] == refused


def test_a_top_level_page_load_may_come_from_anywhere_but_a_frame_may_not():
    page = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document",
            "Referer": "https://hub.example/user/mallory/proxy/8080/"}
    assert own_pages.own_page_refusal(_request(page, method="GET")) == ""
    assert own_pages.own_page_refusal(_request({**page, "Sec-Fetch-Dest": "iframe"}, method="GET"))
    assert own_pages.own_page_refusal(_request(page, method="POST"))  # a form posted from mallory's page


@pytest.mark.parametrize("cookie, confined", [
    ("a=1; Path=/", "a=1; Path=/user/mallory/"),
    ("a=1; Path=/hub/; HttpOnly", "a=1; Path=/user/mallory/; HttpOnly"),
    ("a=1; Path=/user/alice/", "a=1; Path=/user/mallory/"),
    ("a=1; Domain=.hub.example; Path=/user/mallory/app", "a=1; Path=/user/mallory/app"),
    ("a=1", "a=1"),  # the browser's default path: the response's own folder, inside the prefix
    ("a=1; path=/user/mallory/proxy/8080/", "a=1; path=/user/mallory/proxy/8080/"),
])
def test_a_proxied_cookie_stays_inside_the_servers_prefix(cookie, confined):
    assert own_pages.confine_cookie(cookie, "/user/mallory/") == confined


def test_proxied_responses_to_another_user_run_in_a_sandbox_on_one_domain(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "mallory")
    monkeypatch.delenv("JUPYTERHUB_HOST", raising=False)
    for user, sandboxed in (("alice", True), ("mallory", False)):
        handler = _request(user=user, base_url="/user/mallory/")
        handler._headers.add("Set-Cookie", "a=1; Path=/")
        handler._headers.add("Service-Worker-Allowed", "/")
        own_pages.confine_response(handler)
        assert handler._headers.get_list("Set-Cookie") == ["a=1; Path=/user/mallory/"]
        assert "Service-Worker-Allowed" not in handler._headers
        assert (handler._headers.get("Content-Security-Policy") == own_pages.SANDBOX) is sandboxed, user
    # per-user subdomains: this server's host is its own origin, not the hub's
    monkeypatch.setenv("JUPYTERHUB_HOST", "https://hub.example")
    assert not own_pages.shown_to_another_user(_request(host="mallory.hub.example", user="alice"))
    assert own_pages.shown_to_another_user(_request(host="hub.example", user="alice"))
    monkeypatch.setenv("LABSTACK_SHARED_PAGES_SANDBOX", "0")  # an admin turned it off
    assert not own_pages.shown_to_another_user(_request(host="hub.example", user="alice"))
    monkeypatch.delenv("LABSTACK_SHARED_PAGES_SANDBOX")
    monkeypatch.delenv("JUPYTERHUB_USER")  # not under a hub
    assert not own_pages.shown_to_another_user(_request(user="alice"))


def test_a_service_worker_scope_inside_the_prefix_is_kept():
    handler = _request(base_url="/user/mallory/")
    handler._headers.add("Service-Worker-Allowed", "/user/mallory/proxy/8080/")
    own_pages.confine_response(handler)
    assert handler._headers["Service-Worker-Allowed"] == "/user/mallory/proxy/8080/"


def test_install_turns_cookie_only_websockets_off_in_the_config():
    from traitlets.config import Config

    config = Config()
    changed = labstack_proxy.replacements()
    original = {name: getattr(owner, name) for owner, name, _ in changed}
    try:
        labstack_proxy.install(config)
        assert config.HubOAuth.allow_websocket_cookie_auth is False
    finally:
        for owner, name, _ in changed:
            setattr(owner, name, original[name])
        upstream.UPSTREAM.clear()


def test_a_websocket_gets_no_cookie_token_by_its_upgrade_header_alone():
    """Chromium sends no Sec-Fetch-Mode on a websocket handshake: the Upgrade header must be enough."""
    upstream.UPSTREAM.setdefault("_get_token_cookie", lambda self, handler: "cookie-token")
    try:
        hub_auth = SimpleNamespace(allow_websocket_cookie_auth=False)
        upgrade = _request({"Upgrade": "websocket", "Connection": "Upgrade"}, method="GET")
        assert own_pages.token_cookie_not_for_websockets(hub_auth, upgrade) is None
        assert own_pages.token_cookie_not_for_websockets(hub_auth, _request(method="GET")) == "cookie-token"
        upgrade._hub_auth_token_cookie = "let through"  # allow_cookie_for_websocket: a proxied app's own page
        assert own_pages.token_cookie_not_for_websockets(hub_auth, upgrade) == "cookie-token"
        hub_auth.allow_websocket_cookie_auth = True
        assert own_pages.token_cookie_not_for_websockets(hub_auth, _request({"Upgrade": "websocket"}, method="GET")) == "cookie-token"
    finally:
        upstream.UPSTREAM.clear()


def test_a_websocket_token_is_read_from_its_url_by_its_upgrade_header():
    upstream.UPSTREAM.setdefault("_get_token_url", lambda self, handler: "")
    try:
        upgrade = _request({"Upgrade": "websocket"}, method="GET")
        upgrade.get_argument = lambda name, default: "url-token" if name == "token" else default
        assert own_pages.token_in_websocket_url(None, upgrade) == "url-token"
        page = _request(method="GET")
        page.get_argument = upgrade.get_argument
        assert own_pages.token_in_websocket_url(None, page) == ""  # a page's URL token: JupyterHub's rule
    finally:
        upstream.UPSTREAM.clear()


def test_upstreams_own_suite_is_fetched_at_the_pinned_version():
    import tomllib

    from labstack import REPO_ROOT
    from labstack.pins import pinned

    pins = tomllib.loads((REPO_ROOT / "images" / "base" / "labstack-proxy" / "upstream-suite.toml").read_text())
    assert pins["sdist"]["url"].endswith(f"/jupyter_server_proxy-{pinned('base')['JUPYTER_SERVER_PROXY_VERSION']}.tar.gz")
    assert len(pins["sdist"]["sha256"]) == 64
