"""Standalone apps authenticate websockets (`python3 -m labstack_proxy ARGS`, in place of
`jupyter-standaloneproxy ARGS`).

Upstream's standalone handler replaces ProxyHandler.prepare, which authenticates every request, with a
no-op, and authenticates only plain HTTP (in proxy()): a websocket upgrade reaches the app with no
credentials at all, and VS Code's websocket is a shell. Here an upgrade needs the same hub user as
HTTP (403 otherwise), and --no-authentication is refused.
"""
from __future__ import annotations

from . import upstream
from .own_pages import is_websocket_upgrade


def authenticating_websockets(handler_class: type) -> type:
    """The standalone proxy handler, with websocket upgrades refused to anyone the hub did not let in."""
    from tornado import web

    class WebsocketAuthenticatedStandaloneHandler(handler_class):
        def prepare(self, *args, **kwargs):
            # current_user is the hub user with access to this server (HubOAuthenticated), or None
            if is_websocket_upgrade(self.request) and not self.current_user:
                raise web.HTTPError(403)

    return WebsocketAuthenticatedStandaloneHandler


def standalone_main(argv: list[str] | None = None) -> None:
    upstream.check()
    from jupyter_server_proxy.standalone import app

    upstream_make = app.make_standalone_proxy

    def make_standalone_proxy(base_proxy_class, proxy_kwargs):
        handler_class, kwargs = upstream_make(base_proxy_class, proxy_kwargs)
        return (authenticating_websockets(handler_class) if handler_class else None), kwargs

    class AuthenticatedStandaloneProxyServer(app.StandaloneProxyServer):
        def start(self):
            if self.no_authentication:
                raise SystemExit("labstack_proxy: refusing --no-authentication: an app behind the hub "
                                 "answers only to the hub's users")
            super().start()

    app.make_standalone_proxy = make_standalone_proxy
    AuthenticatedStandaloneProxyServer.launch_instance(argv)

