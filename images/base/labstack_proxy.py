"""labstack's changes to jupyter-server-proxy's behaviour, all in this one module.

Written against the versions in SUPPORTED and the internals listed in REQUIRED. Everything here first
calls check_upstream(), which stops with one line if the installed jupyter-server-proxy is another
version or lacks what this module relies on, so an upgrade can never silently undo a change.

- Standalone apps authenticate websockets (`python3 -m labstack_proxy ARGS`, in place of
  `jupyter-standaloneproxy ARGS`). Upstream's standalone handler replaces ProxyHandler.prepare, which
  authenticates every request, with a no-op, and authenticates only plain HTTP (in proxy()): a
  websocket upgrade reaches the app with no credentials at all, and VS Code's websocket is a shell.
  Here an upgrade needs the same hub user as HTTP (403 otherwise), and --no-authentication is refused.
"""
from __future__ import annotations

import sys

SUPPORTED = ("4.6.0",)
# module -> the names in it this module uses or replaces
REQUIRED = {
    "jupyter_server_proxy.standalone.app": ("StandaloneProxyServer", "make_standalone_proxy"),
    "jupyter_server_proxy.standalone.proxy": ("make_standalone_proxy",),
}


class UpstreamChanged(SystemExit):
    pass


def check_upstream() -> None:
    """Stop with one line unless jupyter-server-proxy is a version this module was written against."""
    import importlib

    import jupyter_server_proxy

    version = getattr(jupyter_server_proxy, "__version__", "unknown")
    if version not in SUPPORTED:
        raise UpstreamChanged(f"labstack_proxy: written for jupyter-server-proxy {' or '.join(SUPPORTED)}, "
                              f"found {version}: check images/base/labstack_proxy.py against it and add it to SUPPORTED")
    for module_name, names in REQUIRED.items():
        module = importlib.import_module(module_name)
        missing = [name for name in names if not hasattr(module, name)]
        if missing:
            raise UpstreamChanged(f"labstack_proxy: jupyter-server-proxy {version} has no {module_name}."
                                  f"{missing[0]}: its internals changed; check images/base/labstack_proxy.py")


def is_websocket_upgrade(request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


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
    check_upstream()
    from jupyter_server_proxy.standalone import app

    upstream = app.make_standalone_proxy

    def make_standalone_proxy(base_proxy_class, proxy_kwargs):
        handler_class, kwargs = upstream(base_proxy_class, proxy_kwargs)
        return (authenticating_websockets(handler_class) if handler_class else None), kwargs

    class AuthenticatedStandaloneProxyServer(app.StandaloneProxyServer):
        def start(self):
            if self.no_authentication:
                raise SystemExit("labstack_proxy: refusing --no-authentication: an app behind the hub "
                                 "answers only to the hub's users")
            super().start()

    app.make_standalone_proxy = make_standalone_proxy
    AuthenticatedStandaloneProxyServer.launch_instance(argv)


if __name__ == "__main__":
    standalone_main(sys.argv[1:])
