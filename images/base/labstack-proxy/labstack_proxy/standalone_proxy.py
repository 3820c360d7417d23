"""Standalone apps authenticate websockets (`python3 -m labstack_proxy ARGS`, in place of
`jupyter-standaloneproxy ARGS`).

Upstream's standalone handler replaces ProxyHandler.prepare, which authenticates every request, with a
no-op, and authenticates only plain HTTP (in proxy()): a websocket upgrade reaches the app with no
credentials at all, and VS Code's websocket is a shell. Here an upgrade needs the same hub user as
HTTP (403 otherwise), and --no-authentication is refused.

Upstream also tells the hub "active now" at every interval, whatever happens, so a standalone app was
never culled. Here it reports when a person last did something, as the activity module counts it
(the app's rule, a keep-alive, a command running in a terminal), and nothing when nothing happened since the last report.
"""
from __future__ import annotations

from . import upstream
from .activity import ACTIVITY, keepalive_lasts, keepalive_max, load_rules, on_message, record_nothing, record_request
from .jobs import terminal_job_counts
from .own_pages import is_websocket_upgrade


def last_person_activity(settings: dict, started):
    """When a person last used the app (or now, while a keep-alive lasts or a command runs in one of
    the app's terminals, under the cap): what the hub is told."""
    from datetime import datetime, timezone

    found = max([started, *settings.get("last_activity_times", {}).values()])
    if keepalive_lasts() or terminal_job_counts(keepalive_max()):
        return datetime.now(timezone.utc)
    return found


def reporting_person_activity(server):
    """start_activity_update's replacement: every interval, the last person activity, if it is new."""
    import json
    import os
    from datetime import datetime, timezone

    from jupyterhub.utils import isoformat
    from tornado import httpclient, ioloop

    started, sent = datetime.now(timezone.utc), [None]
    url, name, token = (os.environ.get(key) for key in
                        ("JUPYTERHUB_ACTIVITY_URL", "JUPYTERHUB_SERVER_NAME", "JUPYTERHUB_API_TOKEN"))

    async def notify():
        last = last_person_activity(server.labstack_app.settings, started)
        if not (url and token) or last == sent[0]:
            return
        stamp = isoformat(last)
        body = {"servers": {name or "": {"last_activity": stamp}}, "last_activity": stamp}
        try:
            await httpclient.AsyncHTTPClient().fetch(url, method="POST", body=json.dumps(body), headers={
                "Authorization": f"token {token}", "Content-Type": "application/json"})
            sent[0] = last
        except (httpclient.HTTPError, OSError) as error:
            server.log.error(f"labstack_proxy: could not tell the hub of activity: {error}")

    def start(interval):
        # as jupyterhub-singleuser does: the spawner's JUPYTERHUB_ACTIVITY_INTERVAL, else the flag's
        interval = int(os.environ.get("JUPYTERHUB_ACTIVITY_INTERVAL") or interval)
        ioloop.PeriodicCallback(notify, 1e3 * interval, 0.1).start()

    return start


def authenticating_websockets(handler_class: type) -> type:
    """The standalone proxy handler, with websocket upgrades refused to anyone the hub did not let in."""
    from tornado import web

    class WebsocketAuthenticatedStandaloneHandler(handler_class):
        def prepare(self, *args, **kwargs):
            # current_user is the hub user with access to this server (HubOAuthenticated), or None
            if is_websocket_upgrade(self.request) and not self.current_user:
                raise web.HTTPError(403)
            if self.current_user:
                record_request(self, self.request.path[len(self.settings.get("base_url", "/")):])

    return WebsocketAuthenticatedStandaloneHandler


def standalone_main(argv: list[str] | None = None) -> None:
    upstream.check()
    from jupyter_server_proxy.standalone import app

    upstream_make = app.make_standalone_proxy

    def make_standalone_proxy(base_proxy_class, proxy_kwargs):
        handler_class, kwargs = upstream_make(base_proxy_class, proxy_kwargs)
        return (authenticating_websockets(handler_class) if handler_class else None), kwargs

    class AuthenticatedStandaloneProxyServer(app.StandaloneProxyServer):
        def create_app(self):
            self.labstack_app = super().create_app()
            return self.labstack_app

        def start(self):
            if self.no_authentication:
                raise SystemExit("labstack_proxy: refusing --no-authentication: an app behind the hub "
                                 "answers only to the hub's users")
            app.start_activity_update = reporting_person_activity(self)
            super().start()

    from jupyter_server_proxy.handlers import ProxyHandler

    import os

    ACTIVITY.rules = load_rules()
    ACTIVITY.fallback = ACTIVITY.rules.get(os.environ.get("LABSTACK_ACTIVITY_APP", ""), ACTIVITY.fallback)
    upstream.replace(ProxyHandler, "_record_activity", record_nothing)
    upstream.replace(ProxyHandler, "on_message", on_message)
    app.make_standalone_proxy = make_standalone_proxy
    AuthenticatedStandaloneProxyServer.launch_instance(argv)

