"""One user's pages never drive another's server: THE SECURITY-CRITICAL MODULE.

Where authentication happens for every proxied request, streamed or not: authenticate_own_pages,
which uploads.prepare_streaming_upload calls before a byte of a body is read.

On one domain alice's and mallory's pages share an origin, so Origin and Sec-Fetch-Site read the
same for both, and every cookie of alice's rides along with mallory's requests. Four rules:
1. Jupyter's own websockets (terminals, kernels) need a token: JupyterHub's allow_websocket_cookie_auth
   off (labstack_proxy.install(c)). JupyterHub tells a websocket by `Sec-Fetch-Mode: websocket`, which chromium does
   not send (measured: Chromium 156 sends no Sec-Fetch-* header and no Referer on a websocket
   handshake, only Origin), so the setting alone changes nothing there; here the Upgrade header, which
   every browser sends, says it (token_cookie_not_for_websockets), and the token JupyterHub takes from
   a websocket's URL is taken for the same reason (token_in_websocket_url): without it, no websocket
   from chromium could carry a token at all. JupyterLab 4.6 puts the token of its page config (which
   JupyterHub's identity provider writes there) in its websockets' URLs only when its page config says
   appendToken (page_config_appending_token): no other user's page can read it.
2. Proxied apps (VS Code, Shiny, RStudio, /proxy/<port>/) use cookie-authenticated websockets and
   requests, and jupyter-server-proxy leaves XSRF to them (most have none). A cookie-authenticated
   request to one that is not a top-level page load must say it comes from this server's own pages:
   Sec-Fetch-Site same-origin (or none: typed, bookmarked), an Origin that is this server's, and a
   Referer (where one is sent) inside this server's prefix. On subdomains the first two tell another
   user's subdomain apart for good (the browser sets them; a page can't). On one domain the Referer is
   all that differs, a page can forge it (fetch's referrer option, history.pushState), and a websocket
   handshake carries none (only Origin, the same for both), so:
3. What a proxied app serves to anyone but the server's owner, on one domain, runs in a sandbox
   (Content-Security-Policy: sandbox without allow-same-origin): an origin of its own, as Jupyter's
   /files/ already serves HTML. Its requests then say Origin: null and Sec-Fetch-Site: cross-site,
   carry none of the hub's cookies (SameSite Lax by default), can't read alice's frames or windows,
   set no cookie by script and register no service worker. What mallory shares still works as a page
   (scripts, forms, popups), not as her app with her storage. An admin whose users trust each other
   (and want a shared VS Code to work for a colleague) turns it off: LABSTACK_SHARED_PAGES_SANDBOX=0.
4. No proxied response sets a cookie for another path or host (its Path is kept inside this server's
   prefix, its Domain dropped), nor widens a service worker's scope past the prefix.
Token-authenticated clients (API scripts) are not browsers' pages: none of this applies to them.
"""
from __future__ import annotations

import os

from .upstream import UPSTREAM

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"


def request_origin(request) -> str:
    return f"{request.protocol}://{request.host}"


async def authenticate_own_pages(handler, *args, **kwargs) -> None:
    """THE CHECK THAT KEEPS OTHER USERS' PAGES OUT (rules 1 and 2): upstream's prepare authenticates
    (its cookie or its token), then a request that a cookie authenticated and that does not come from
    this server's own pages is refused. Only a token-authenticated request skips rule 2: a token merely
    sent (a page can add any Authorization header) and refused leaves upstream to fall back on the
    cookie, with jupyter-server-proxy's XSRF check a no-op."""
    refusal = own_page_refusal(handler)
    if not refusal:
        allow_cookie_for_websocket(handler)
    await UPSTREAM["prepare"](handler, *args, **kwargs)
    if refusal and not handler._finished and not getattr(handler, "_token_authenticated", False):
        handler.log.warning("labstack_proxy: refused %s %s: %s", handler.request.method, handler.request.path, refusal)
        raise_forbidden(refusal)


def token_in_request(handler) -> bool:
    """A token the client sent in its header, or in a websocket's URL (where JupyterHub reads one)."""
    header = handler.request.headers.get("Authorization", "")
    return header.lower().startswith(("token ", "bearer ")) or bool(handler.get_query_argument("token", ""))


def own_page_refusal(handler) -> str:
    """Why a cookie-authenticated request is not from this server's own pages (rule 2), or ""."""
    from urllib.parse import urlsplit

    headers = handler.request.headers
    top_level_page = headers.get("Sec-Fetch-Mode") == "navigate" and headers.get("Sec-Fetch-Dest", "document") == "document"
    if top_level_page and handler.request.method in SAFE_METHODS:
        return ""  # alice following a link or typing a URL: the page loads; what it then asks is checked
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site}"
    origin = headers.get("Origin")
    if origin is not None and origin != request_origin(handler.request):
        return f"Origin is {origin}"
    referer = headers.get("Referer")
    if referer:
        referring = urlsplit(referer)
        if f"{referring.scheme}://{referring.netloc}" != request_origin(handler.request):
            return "Referer is another origin"
        if not (referring.path + "/").startswith(handler.base_url):
            return f"Referer is {referring.path}, not a page of this server ({handler.base_url})"
    return ""


def raise_forbidden(reason: str):
    from tornado import web

    raise web.HTTPError(403, f"labstack: not from a page of this server ({reason})")


def token_cookie_not_for_websockets(self, handler):
    """HubOAuth._get_token_cookie's replacement (rule 1): no cookie token for a websocket upgrade while
    allow_websocket_cookie_auth is off, told by its Upgrade header (JupyterHub looks for Sec-Fetch-Mode,
    which chromium does not send), unless allow_cookie_for_websocket let this one through."""
    if (not hasattr(handler, "_hub_auth_token_cookie") and not self.allow_websocket_cookie_auth
            and is_websocket_upgrade(handler.request)):
        return None
    return UPSTREAM["_get_token_cookie"](self, handler)


def token_in_websocket_url(self, handler) -> str:
    """HubAuth._get_token_url's replacement (rule 1): a websocket's ?token=, told by its Upgrade header."""
    if is_websocket_upgrade(handler.request):
        return handler.get_argument("token", "")
    return UPSTREAM["_get_token_url"](self, handler)


def page_config_appending_token(self, handler, page_config):
    """JupyterHubIdentityProvider.page_config_hook's replacement (rule 1): JupyterLab sends its token
    with every websocket it opens (kernels, terminals, events)."""
    page_config = UPSTREAM["page_config_hook"](self, handler, page_config)
    page_config["appendToken"] = "true"  # read as a string (PageConfig.getOption(...).toLowerCase())
    return page_config


def allow_cookie_for_websocket(handler) -> None:
    """Rule 1 turned cookie authentication off for every websocket; a proxied app's own page (rule 2
    passed) opens its websockets with the cookie, as VS Code, Shiny and RStudio do. JupyterHub's HubOAuth
    reads a cookie token cached on the handler before it looks at the setting."""
    hub_auth = getattr(getattr(handler, "identity_provider", None), "hub_auth", None)
    if (hub_auth is None or hub_auth.allow_websocket_cookie_auth or not is_websocket_upgrade(handler.request)
            or token_in_request(handler)):
        return
    value = handler.get_secure_cookie(hub_auth.cookie_name)
    handler._hub_auth_token_cookie = value.decode("ascii", "replace") if value else None


def shown_to_another_user(handler) -> bool:
    """Rule 3: under a hub, on one domain, the viewer is not the server's owner (an admin, or a user it
    is shared with). On per-user subdomains this server's host is not the hub's: an origin of its own."""
    from urllib.parse import urlsplit

    owner = os.environ.get("JUPYTERHUB_USER")
    if not owner or os.environ.get("LABSTACK_SHARED_PAGES_SANDBOX", "1") == "0":
        return False  # not under a hub (one user, one token), or an admin turned it off
    hub_host = urlsplit(os.environ.get("JUPYTERHUB_HOST", "")).netloc
    if hub_host and hub_host != handler.request.host:
        return False
    user = handler.current_user
    return getattr(user, "username", None) != owner


def confine_cookie(value: str, prefix: str) -> str:
    """Rule 4: a Set-Cookie value kept inside the prefix: its Domain dropped (host-only), its Path made
    the prefix where it named a path outside it."""
    parts = [part.strip() for part in value.split(";")]
    kept = [parts[0]]
    for part in parts[1:]:
        name, _, path = part.partition("=")
        if name.strip().lower() == "domain":
            continue
        if name.strip().lower() == "path" and not (path.strip().rstrip("/") + "/").startswith(prefix):
            part = f"Path={prefix}"
        kept.append(part)
    return "; ".join(kept)


def confine_response(handler) -> None:
    """Rules 3 and 4, on a proxied response's headers before they are sent."""
    from urllib.parse import urljoin, urlsplit

    headers = handler._headers
    prefix = handler.base_url
    cookies = headers.get_list("Set-Cookie")
    if cookies:
        del headers["Set-Cookie"]
        for cookie in cookies:
            headers.add("Set-Cookie", confine_cookie(cookie, prefix))
    scope = headers.get("Service-Worker-Allowed")
    if scope is not None and not (urlsplit(urljoin(handler.request.path, scope)).path.rstrip("/") + "/").startswith(prefix):
        del headers["Service-Worker-Allowed"]
    if shown_to_another_user(handler):
        headers.add("Content-Security-Policy", SANDBOX)



def is_websocket_upgrade(request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"

