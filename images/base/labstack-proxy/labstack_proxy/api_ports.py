"""Port-scoped hub tokens: an API client reaches the ports the admin named, and nothing else.

A token that opens /user/alice/proxy/5000/ today opens the whole server (terminals, kernels, files):
JupyterHub's identity provider accepts only tokens holding access:servers for it. Here a token that
holds only the custom scope (LABSTACK_API_SCOPE, default custom:labstack:api-port) for this server
(`!server=alice/`, `!user=alice`, or a share of alice's server) is accepted on one path:
`/proxy/<port>/` of a port in LABSTACK_API_PORTS, with the token in the Authorization header, or in
the URL for a websocket (where browsers can put none in a header). Never by cookie, never on
/proxy/absolute/, /proxy/<host>:<port>/, a named app or anything of Jupyter's: those stay refused.
The app never sees the hub token (the header and the `token` parameter are removed first).

It fails closed: without this module, or with LABSTACK_API_PORTS empty, upstream refuses a narrow
token everywhere. Revocation and expiry take effect within the single-user server's token cache
(HubOAuth.cache_max_age, set from LABSTACK_TOKEN_CACHE_SECONDS, default 30).

CORS for browser clients on other origins, per port (LABSTACK_API_CORS_ORIGINS, e.g.
`5000=https://dash.example.org https://b.example.org;8050=https://c.example.org`): a preflight to an
allowed port is answered here with 204, with the CORS headers for a listed origin and without them
for any other; a listed origin's requests get Access-Control-Allow-Origin on their response. Never
Access-Control-Allow-Credentials: the hub's cookies never ride along. Jupyter's own CORS settings
(allow_origin) stay off.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from .upstream import UPSTREAM, UpstreamChanged

PREFLIGHT_HEADERS = "Authorization, Content-Type"
PREFLIGHT_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"


@dataclass
class Settings:
    ports: frozenset = frozenset()
    origins: dict = field(default_factory=dict)  # port -> frozenset of origins
    scope: str = "custom:labstack:api-port"
    cache_seconds: int = 30


def parse_settings(environ) -> Settings:
    """The admin's settings, or one line naming what is wrong (raised as UpstreamChanged: a SystemExit,
    so Jupyter stops with it instead of starting without the change)."""
    def refuse(message):
        raise UpstreamChanged(f"labstack_proxy: {message}")

    def port(text, where):
        if not text.strip().isdigit() or not 0 < int(text) < 65536:
            refuse(f"{where}: {text.strip()!r} is not a port")
        return int(text)

    ports = frozenset(port(p, "LABSTACK_API_PORTS") for p in environ.get("LABSTACK_API_PORTS", "").split(",") if p.strip())
    origins = {}
    for entry in environ.get("LABSTACK_API_CORS_ORIGINS", "").split(";"):
        if not entry.strip():
            continue
        number, equals, listed = entry.partition("=")
        if not equals:
            refuse(f"LABSTACK_API_CORS_ORIGINS: {entry.strip()!r} is not PORT=ORIGIN [ORIGIN...]")
        number = port(number, "LABSTACK_API_CORS_ORIGINS")
        if number not in ports:
            refuse(f"LABSTACK_API_CORS_ORIGINS: port {number} is not in LABSTACK_API_PORTS")
        for origin in listed.split():
            scheme, _, host = origin.partition("://")
            if scheme not in ("http", "https") or not host or "/" in host or origin == "*":
                refuse(f"LABSTACK_API_CORS_ORIGINS: {origin!r} is not an origin like https://host[:port]")
        origins[number] = frozenset(listed.split())
    scope = environ.get("LABSTACK_API_SCOPE", "custom:labstack:api-port")
    if not scope.startswith("custom:") or "!" in scope:
        refuse(f"LABSTACK_API_SCOPE: {scope!r} is not a custom scope (custom:..., no filter)")
    cache = environ.get("LABSTACK_TOKEN_CACHE_SECONDS", "30")
    if not cache.isdigit():
        refuse(f"LABSTACK_TOKEN_CACHE_SECONDS: {cache!r} is not a number of seconds")
    return Settings(ports, origins, scope, int(cache))


SETTINGS = Settings()


def api_port(handler) -> int | None:
    """The port of a request on the one path narrow tokens may use (/proxy/<port>/, upstream's
    LocalProxyHandler itself: not /proxy/absolute/, not a named app, which derive from it), if allowed."""
    from jupyter_server_proxy.handlers import LocalProxyHandler

    if type(handler) is not LocalProxyHandler or handler.absolute_url or not handler.path_args:
        return None
    port = int(handler.path_args[0])
    return port if port in SETTINGS.ports else None


def sent_token(handler) -> str:
    """The token an API client sent: its Authorization header, or a websocket's URL. Never a cookie."""
    kind, _, token = handler.request.headers.get("Authorization", "").strip().partition(" ")
    if kind.lower() in ("token", "bearer") and token.strip():
        return token.strip()
    if handler.request.headers.get("Upgrade", "").lower() == "websocket":
        return handler.get_query_argument("token", "")
    return ""


def required_scopes(hub_auth) -> set:
    """The custom scope for this server, filtered as JupyterHub filters access to it
    (access:servers!server=alice/ and access:servers!user=alice become the custom scope's)."""
    return {SETTINGS.scope + scope[len("access:servers"):] for scope in hub_auth.access_scopes
            if scope.startswith("access:servers!")}


# JupyterHub gives every token its owner's name and groups to read: a port token holds these too.
IDENTITY_SCOPES = {"read:users:name", "read:users:groups"}


def holds_only_the_port_scope(model) -> bool:
    """Only a token minted for the ports opens them: an ordinary token (JupyterHub's "inherit", all its
    owner holds) also carries the port scopes of every share its owner was given, and a script holding
    it would reach alice's ports with bob's whole account."""
    scopes = model.get("scopes") or []
    return bool(scopes) and all(scope.partition("!")[0] in IDENTITY_SCOPES | {SETTINGS.scope} for scope in scopes)


async def get_user(self, handler):
    """JupyterHubIdentityProvider.get_user's replacement: upstream's answer, and where it refused, a
    narrow token on an allowed port's path."""
    user = await UPSTREAM["get_user"](self, handler)
    if user is not None or not SETTINGS.ports or api_port(handler) is None:
        return user
    token = sent_token(handler)
    if not token:
        return None
    from jupyterhub.singleuser.extension import JupyterHubUser

    model = await self.hub_auth.user_for_token(token, sync=False)  # cached for cache_max_age
    if not model or not holds_only_the_port_scope(model):
        return None
    if not self.hub_auth.check_scopes(required_scopes(self.hub_auth), model):
        return None
    if "redirect" in vars(handler):
        del handler.redirect  # upstream's refusal made redirects raise 403: the request is allowed now
    handler._token_authenticated = True
    handler._jupyterhub_user = JupyterHubUser(model)
    handler.labstack_api_client = True
    remove_token(handler)
    self.log.info("labstack_proxy: %s %s by %s's port-scoped token", handler.request.method,
                  handler.request.path, model.get("name"))
    return handler._jupyterhub_user


def remove_token(handler) -> None:
    """The app never sees the hub token: its header and URL parameter are taken out of the request."""
    request = handler.request
    request.headers.pop("Authorization", None)
    if "token" in request.query_arguments:
        kept = [(name, value) for name, value in parse_qsl(request.query, keep_blank_values=True) if name != "token"]
        request.query = urlencode(kept)
        request.uri = request.path + (f"?{request.query}" if request.query else "")
        request.query_arguments.pop("token", None)
        request.arguments.pop("token", None)


def is_preflight(handler) -> bool:
    """A browser's CORS preflight to an allowed port: it carries no token, so it never reaches the app
    or authentication, and is answered here (answer_preflight)."""
    headers = handler.request.headers
    return (handler.request.method == "OPTIONS" and "Access-Control-Request-Method" in headers
            and api_port(handler) is not None)


def answer_preflight(handler) -> None:
    """204, with the CORS headers for a listed origin only."""
    handler.set_status(204)
    handler.set_header("Vary", "Origin")
    origin = handler.request.headers.get("Origin", "")
    if origin in SETTINGS.origins.get(api_port(handler), ()):
        handler.set_header("Access-Control-Allow-Origin", origin)
        handler.set_header("Access-Control-Allow-Methods", PREFLIGHT_METHODS)
        handler.set_header("Access-Control-Allow-Headers", PREFLIGHT_HEADERS)
        handler.set_header("Access-Control-Max-Age", "600")
    handler.finish()


def allow_origin(handler) -> None:
    """On a proxied response to an API client: Access-Control-Allow-Origin for a listed origin."""
    if not getattr(handler, "labstack_api_client", False):
        return
    origin = handler.request.headers.get("Origin", "")
    port = api_port(handler)
    handler._headers.add("Vary", "Origin")
    if port is not None and origin in SETTINGS.origins.get(port, ()):
        handler._headers["Access-Control-Allow-Origin"] = origin
