"""labstack_proxy.api_ports: which requests a port-scoped token opens, on jupyter-server-proxy's own handler
classes and JupyterHub's own scope check. The hub is a double here (what /hub/api/user answers for a
token); images/code-server/tests/test_api_ports.py runs the same through a real hub."""
import asyncio
import logging
from types import SimpleNamespace
from unittest import mock

import pytest

pytest.importorskip("jupyter_server_proxy", reason="pip install -r requirements-dev.txt")
from jupyter_server_proxy.handlers import LocalProxyHandler, NamedLocalProxyHandler, RemoteProxyHandler  # noqa: E402
from jupyterhub.services.auth import check_scopes  # noqa: E402
from tornado import httputil, web  # noqa: E402

from labstack_proxy import api_ports, uploads, upstream  # noqa: E402

SCOPE = "custom:labstack:api-port"
SETTINGS = {"LABSTACK_API_PORTS": "5000,8050", "LABSTACK_API_CORS_ORIGINS": "5000=https://dash.example https://b.example"}


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    monkeypatch.setattr(api_ports, "SETTINGS", api_ports.parse_settings(SETTINGS))


def handler(path, headers=None, method="GET", cls=LocalProxyHandler, absolute=False):
    """A real handler of jupyter-server-proxy's route for path (/proxy/<port>/... or /proxy/<host>:<port>/...)."""
    app = web.Application([], base_url="/user/alice/")
    start = httputil.RequestStartLine(method, f"/user/alice{path}", "HTTP/1.1")
    request = httputil.HTTPServerRequest(start_line=start, headers=httputil.HTTPHeaders({"Host": "hub.example", **(headers or {})}),
                                         connection=mock.Mock())
    made = cls(app, request, absolute_url=absolute, rewrite_response=())
    made._transforms = []
    route = path.split("/")[3 if absolute else 2]
    made.path_args = route.split(":") if cls is RemoteProxyHandler else [route]
    return made


def hub(tokens):
    """JupyterHub's side: each token's /hub/api/user model; the server is alice's."""
    async def user_for_token(token, use_cache=True, session_id="", *, sync=True):
        return tokens.get(token)

    # what JupyterHub 5 gives a server (scopes.access_scopes: JUPYTERHUB_OAUTH_ACCESS_SCOPES)
    hub_auth = SimpleNamespace(access_scopes={"access:servers!server=alice/"},
                               user_for_token=user_for_token,
                               check_scopes=lambda required, user: check_scopes(required, set(user["scopes"])))
    return SimpleNamespace(hub_auth=hub_auth, log=logging.getLogger("test"))


def identity(name):
    """The scopes JupyterHub adds to every token: its owner's name and groups."""
    return [f"read:users:name!user={name}", f"read:users:groups!user={name}"]


TOKENS = {
    "narrow": {"name": "alice", "scopes": [f"{SCOPE}!server=alice/", *identity("alice")]},
    "narrow-user": {"name": "alice", "scopes": [f"{SCOPE}!user=alice", *identity("alice")]},
    "narrow-bob": {"name": "bob", "scopes": [f"{SCOPE}!server=bob/", *identity("bob")]},
    "shared-to-bob": {"name": "bob", "scopes": [f"{SCOPE}!server=alice/", *identity("bob")]},
    # bob's ordinary token (JupyterHub's "inherit"): his own access, and alice's share of her port
    "bob-ordinary": {"name": "bob", "scopes": [f"{SCOPE}!server=alice/", "access:servers!user=bob",
                                               "tokens!user=bob", *identity("bob")]},
    "unfiltered": {"name": "alice", "scopes": [SCOPE]},  # every server's ports: JupyterHub's own meaning
    "other-custom": {"name": "alice", "scopes": ["custom:other!server=alice/"]},
    "no-scopes": {"name": "alice", "scopes": []},
}


def user_of(request_handler, upstream_user=None):
    upstream.UPSTREAM["get_user"] = lambda self, h: asyncio.sleep(0, upstream_user)
    try:
        return asyncio.run(api_ports.get_user(hub(TOKENS), request_handler))
    finally:
        upstream.UPSTREAM.clear()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("token, name", [("narrow", "alice"), ("narrow-user", "alice"), ("shared-to-bob", "bob"),
                                         ("unfiltered", "alice"), ("narrow-bob", None), ("other-custom", None),
                                         ("bob-ordinary", None), ("no-scopes", None), ("unknown", None)])
def test_a_token_with_the_scope_for_this_server_opens_an_allowed_port(token, name):
    user = user_of(handler("/proxy/5000/api/items", bearer(token)))
    assert (user.username if user else None) == name


@pytest.mark.parametrize("path, cls, absolute", [
    ("/proxy/5001/", LocalProxyHandler, False),  # a port not named
    ("/proxy/absolute/5000/", LocalProxyHandler, True),
    ("/proxy/localhost:5000/", RemoteProxyHandler, False),
    ("/proxy/5000/", NamedLocalProxyHandler, False),  # a named app (/vscode/, /shiny/) derives from it
])
def test_only_the_plain_proxy_path_of_a_named_port_is_opened(path, cls, absolute):
    assert user_of(handler(path, bearer("narrow"), cls=cls, absolute=absolute)) is None


def test_never_by_cookie_and_by_url_only_for_a_websocket():
    assert user_of(handler("/proxy/5000/", {"Cookie": "jupyterhub-user-alice=x"})) is None
    assert user_of(handler("/proxy/5000/?token=narrow")) is None
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    assert user_of(handler("/proxy/5000/ws?token=narrow", upgrade)).username == "alice"


def test_without_named_ports_nothing_narrow_is_opened(monkeypatch):
    monkeypatch.setattr(api_ports, "SETTINGS", api_ports.parse_settings({}))
    assert user_of(handler("/proxy/5000/", bearer("narrow"))) is None


def test_a_full_token_is_upstreams_answer_untouched():
    full = SimpleNamespace(username="alice")
    request_handler = handler("/proxy/5000/", bearer("full"))
    assert user_of(request_handler, upstream_user=full) is full
    assert request_handler.request.headers["Authorization"] == "Bearer full"


def test_the_app_never_sees_the_hub_token():
    header = handler("/proxy/5000/api?x=1", bearer("narrow"))
    assert user_of(header) and "Authorization" not in header.request.headers
    socket = handler("/proxy/5000/ws?token=narrow&x=1", {"Upgrade": "websocket"})
    assert user_of(socket)
    assert (socket.request.query, socket.request.uri) == ("x=1", "/user/alice/proxy/5000/ws?x=1")
    assert socket.get_query_argument("token", None) is None and socket.request.arguments == {"x": [b"1"]}
    twice = handler("/proxy/5000/ws?token=a&token=b", {"Upgrade": "websocket"})
    api_ports.remove_token(twice)
    assert (twice.request.query, twice.request.uri) == ("", "/user/alice/proxy/5000/ws")


def test_a_refused_redirect_is_restored_once_allowed():
    request_handler = handler("/proxy/5000/", bearer("narrow"))
    request_handler.redirect = "upstream's raise_on_redirect"
    assert user_of(request_handler)
    assert request_handler.redirect.__func__ is web.RequestHandler.redirect


def preflight(port, origin):
    """A preflight through the installed prepare (Tornado runs it before reading the request), then the
    method (called once the request is read)."""
    request_handler = handler(f"/proxy/{port}/api", {"Origin": origin, "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "authorization"}, method="OPTIONS")
    asyncio.run(uploads.prepare_streaming_upload(request_handler))
    # answered before its request is read, Tornado closes the connection the hub's proxy sends the next on
    assert not request_handler._finished
    request_handler.options(*request_handler.path_args)
    assert request_handler._finished
    return request_handler


def test_a_preflight_is_answered_once_read_with_cors_headers_for_a_listed_origin_only():
    listed = preflight(5000, "https://dash.example")
    assert listed.get_status() == 204
    assert listed._headers["Access-Control-Allow-Origin"] == "https://dash.example"
    assert "authorization" in listed._headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in listed._headers
    other = preflight(5000, "https://evil.example")
    assert other.get_status() == 204 and "Access-Control-Allow-Origin" not in other._headers
    no_cors_port = preflight(8050, "https://dash.example")
    assert no_cors_port.get_status() == 204 and "Access-Control-Allow-Origin" not in no_cors_port._headers
    not_api = handler("/proxy/5001/api", {"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"},
                      method="OPTIONS")
    assert not api_ports.is_preflight(not_api)  # not an API port: authentication as ever


def test_a_response_to_an_api_client_allows_its_listed_origin():
    listed = handler("/proxy/5000/", {"Origin": "https://b.example"})
    listed.labstack_api_client = True
    api_ports.allow_origin(listed)
    assert listed._headers["Access-Control-Allow-Origin"] == "https://b.example"
    other = handler("/proxy/5000/", {"Origin": "https://evil.example"})
    other.labstack_api_client = True
    api_ports.allow_origin(other)
    assert "Access-Control-Allow-Origin" not in other._headers
    browser = handler("/proxy/5000/", {"Origin": "https://b.example"})  # a cookie's request, not an API client's
    api_ports.allow_origin(browser)
    assert "Access-Control-Allow-Origin" not in browser._headers


@pytest.mark.parametrize("environ, message", [
    ({"LABSTACK_API_PORTS": "5000,http"}, "LABSTACK_API_PORTS: 'http' is not a port"),
    ({"LABSTACK_API_PORTS": "70000"}, "LABSTACK_API_PORTS: '70000' is not a port"),
    ({"LABSTACK_API_PORTS": "5000", "LABSTACK_API_CORS_ORIGINS": "8050=https://a.example"},
     "LABSTACK_API_CORS_ORIGINS: port 8050 is not in LABSTACK_API_PORTS"),
    ({"LABSTACK_API_PORTS": "5000", "LABSTACK_API_CORS_ORIGINS": "5000=*"},
     "LABSTACK_API_CORS_ORIGINS: '*' is not an origin like https://host[:port]"),
    ({"LABSTACK_API_PORTS": "5000", "LABSTACK_API_CORS_ORIGINS": "https://a.example"},
     "LABSTACK_API_CORS_ORIGINS: 'https://a.example' is not PORT=ORIGIN [ORIGIN...]"),
    ({"LABSTACK_API_SCOPE": "access:servers"}, "LABSTACK_API_SCOPE: 'access:servers' is not a custom scope"),
    ({"LABSTACK_TOKEN_CACHE_SECONDS": "soon"}, "LABSTACK_TOKEN_CACHE_SECONDS: 'soon' is not a number of seconds"),
])
def test_a_wrong_setting_stops_jupyter_with_one_line(environ, message):
    with pytest.raises(upstream.UpstreamChanged) as stopped:
        api_ports.parse_settings(environ)
    assert str(stopped.value).startswith(f"labstack_proxy: {message}") and "\n" not in str(stopped.value)


def test_install_sets_the_token_cache_from_the_setting(monkeypatch):
    import labstack_proxy
    from traitlets.config import Config

    monkeypatch.setenv("LABSTACK_TOKEN_CACHE_SECONDS", "7")
    config = Config()
    changed = labstack_proxy.replacements()
    original = {(owner, name): getattr(owner, name) for owner, name, _ in changed}
    try:
        labstack_proxy.install(config)
        assert config.HubOAuth.cache_max_age == 7
    finally:
        for (owner, name), value in original.items():
            setattr(owner, name, value)
        upstream.UPSTREAM.clear()
