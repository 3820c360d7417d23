"""The app a profile lands on starts with the server, not on its first request.

A hub profile whose default_url is an app's (/vscode/, /shiny/, /rstudio/) sends the user's browser
there as soon as the server answers; jupyter-server-proxy would start the app only then, so the user
waits for Jupyter and then for the app, one after the other. Here the named app whose route the
default URL opens (JUPYTERHUB_DEFAULT_URL, which JupyterHub sets from the profile, or the server's
own default_url) is started as Jupyter starts, through the same ensure_process a request would call
(restarts included), with the same shared state, so the first request finds it running. Other apps
still start on demand. If it fails to start here, it starts on its first request, as before.
"""
from __future__ import annotations

import os

# jupyter-server-proxy's route of a named app: ujoin(base_url, name, r"(.*)"), which Tornado ends with $
ROUTE_END = "/(.*)$"


def landing_app(default_url: str, names) -> str | None:
    """The named app whose route default_url opens: the longest name that is its first path part(s)."""
    path = (default_url or "").split("?", 1)[0].strip("/")
    matching = [name for name in names if path == name or path.startswith(name + "/")]
    return max(matching, key=len) if matching else None


def named_apps(web_app) -> dict:
    """name -> (handler class, its kwargs) for each app jupyter-server-proxy supervises."""
    from jupyter_server_proxy.handlers import SuperviseAndProxyHandler

    base = web_app.settings.get("base_url", "/")
    apps = {}
    for host_rule in web_app.default_router.rules:
        for rule in getattr(host_rule.target, "rules", []):
            target, pattern = rule.target, getattr(rule.matcher, "regex", None)
            if isinstance(target, type) and issubclass(target, SuperviseAndProxyHandler) and pattern is not None:
                route = pattern.pattern
                if route.startswith(base) and route.endswith(ROUTE_END):
                    apps[route[len(base):-len(ROUTE_END)].strip("/")] = (target, rule.target_kwargs)
    return apps


class _NoConnection:
    """The connection of the request made up to start the app: nothing is ever written to it."""

    def set_close_callback(self, callback) -> None:
        pass


async def start_landing_app(serverapp) -> str | None:
    """Start the app the default URL opens; its name, or None when it opens none of them."""
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    web_app = serverapp.web_app
    default_url = os.environ.get("JUPYTERHUB_DEFAULT_URL") or web_app.settings.get("default_url", "")
    apps = named_apps(web_app)
    name = landing_app(default_url, apps)
    if name is None:
        return None
    handler_class, kwargs = apps[name]
    uri = web_app.settings.get("base_url", "/") + name + "/"
    request = HTTPServerRequest(start_line=RequestStartLine("GET", uri, "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "127.0.0.1"}), connection=_NoConnection())
    handler = handler_class(web_app, request, **kwargs)
    serverapp.log.info("labstack_proxy: starting %s with the server: the default URL %s opens it", name, default_url)
    try:
        await handler.ensure_process()
    except Exception as error:  # it starts on its first request then, as it always did
        serverapp.log.warning("labstack_proxy: %s did not start with the server (%s)", name, error)
    return name


def _load_jupyter_server_extension(serverapp) -> None:
    """Enabled by install(c): once the server runs (every extension's routes added), start the landing app."""
    from tornado.ioloop import IOLoop

    IOLoop.current().add_callback(start_landing_app, serverapp)
