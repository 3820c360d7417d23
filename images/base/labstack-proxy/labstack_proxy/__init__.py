"""labstack's changes to jupyter-server-proxy's behaviour: this package is the one place they live.

One module per concern, each with its reason at the top:
- streaming: proxied responses stream, at any size, with flat memory;
- uploads: request bodies stream to the app, once the request is authenticated;
- restarts: an app that crashed is started again, a bounded number of times;
- own_pages: one user's pages never drive another user's server. Security-critical: every proxied
  request is authenticated there (authenticate_own_pages), streamed or not;
- activity: what the hub's idle culler counts is what a person does, by each app's declared rule;
- jobs: work a person left running (a command in a terminal, a busy kernel) counts, up to the cap;
- flow: a browser (or an app) that reads slowly never makes Jupyter hold more than a bound for it, on
  proxied websockets and in Jupyter's terminals;
- api_ports: a hub token holding only labstack's custom scope reaches the ports the admin named through
  /proxy/<port>/ and nothing else; CORS for those ports' listed origins;
- landing: the app a profile lands on (its default_url) starts with the server, not on its first
  request (a server extension install() enables);
- standalone_proxy: `python3 -m labstack_proxy` is jupyter-standaloneproxy with websockets
  authenticated and activity reported as the activity module counts it;
- web_apps: the web apps a person started (in a terminal or a notebook), found by their listening
  ports, each with its link through the proxy (GET labstack/web-apps);
- app_paths: the public path Dash, Gradio and Bokeh need, in the environment they read, so that an app
  started with no flag opens through /proxy/<port>/;
- one_app_server: `labstack-alone NAME`, one of the image's apps as the whole server behind the hub,
  started as JupyterLab would start it, under the standalone proxy;
- upstream: every internal of jupyter-server-proxy, JupyterHub, Tornado and simpervisor used here, and
  the start-up check of their versions and signatures.

Why it replaces methods instead of configuring upstream's classes: jupyter-server-proxy's public seams
are the servers in c.ServerProxy.servers (each a ServerProcess) and the handler class a ServerProcess
picks (get_proxy_base_class). Neither reaches /proxy/<port>/, whose routes setup_handlers fixes to
LocalProxyHandler and RemoteProxyHandler, and a ServerProcess has no setting for another handler
class. Replacing ProxyHandler's methods, which every route's handler derives from, is the one way to
give every route the same behaviour; upstream.check() makes that safe to upgrade.
"""
from __future__ import annotations

from . import upstream

__version__ = "0.2.0"


def _jupyter_server_extension_points():
    return [{"module": "labstack_proxy.landing"}, {"module": "labstack_proxy.web_apps"},
            {"module": "labstack_proxy.app_paths"}]


def replacements() -> list:
    """(class, attribute, labstack's value) for everything install() changes: in jupyter-server-proxy, and
    in JupyterHub's single-user authentication for rule 1 of own_pages."""
    import jupyter_server_proxy.websocket
    from jupyter_server_proxy.handlers import ProxyHandler, SuperviseAndProxyHandler
    from jupyter_server_terminals.handlers import TermSocket
    from terminado.management import TermManagerBase
    from jupyterhub.services.auth import HubAuth, HubOAuth
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.serverapp import ServerWebApplication
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from jupyterhub.singleuser.extension import JupyterHubIdentityProvider

    from . import activity, api_ports, flow, jobs, own_pages, restarts, streaming, uploads

    return [
        (HubOAuth, "_get_token_cookie", own_pages.token_cookie_not_for_websockets),
        (HubAuth, "_get_token_url", own_pages.token_in_websocket_url),
        (JupyterHubIdentityProvider, "page_config_hook", own_pages.page_config_appending_token),
        # api_ports: upstream's answer, and on an allowed port's path a port-scoped token
        (JupyterHubIdentityProvider, "get_user", api_ports.get_user),
        (ProxyHandler, "_proxy_buffered", streaming.proxy_streaming),
        # Tornado hands the body to data_received as it arrives (what @web.stream_request_body sets)
        (ProxyHandler, "_stream_request_body", True),
        (ProxyHandler, "prepare", uploads.prepare_streaming_upload),
        (ProxyHandler, "data_received", uploads.data_received),
        (ProxyHandler, "proxy", uploads.proxy_with_body),
        (ProxyHandler, "on_connection_close", uploads.on_connection_close),
        (SuperviseAndProxyHandler, "ensure_process", restarts.ensure_process_restarting),
        # activity: a person, not traffic (uploads' proxy() records requests through activity too)
        (ProxyHandler, "_record_activity", activity.record_nothing),
        (ProxyHandler, "on_message", flow.on_message if flow.LIMIT else activity.on_message),
        (APIHandler, "update_api_activity", activity.api_activity_of_a_person),
        (ServerWebApplication, "last_activity", activity.last_activity),
        (MappingKernelManager, "start_watching_activity", jobs.watching_busy_time),
        (TermSocket, "write_message", flow.terminal_write_message if flow.LIMIT else activity.terminal_output),
    ] + ([] if not flow.LIMIT else [
        # flow: websockets and terminals hold at most flow.LIMIT for a side that is slow to read
        # (flow.on_message counts activity, then passes the message on); LABSTACK_WEBSOCKET_BUFFER_MB=0
        # leaves upstream's unbounded path, for comparing
        (ProxyHandler, "write_message", flow.write_message),
        (ProxyHandler, "proxy_open", flow.proxy_open),
        (jupyter_server_proxy.websocket, "PingableWSClientConnection",
         flow.app_connection_class(jupyter_server_proxy.websocket.PingableWSClientConnection)),
        (TermManagerBase, "pty_read", flow.pty_read),
    ])


def install(config=None) -> None:
    """Streaming responses and uploads, restarting apps and own-page checks for every jupyter-server-proxy
    route of this server (its ProxyHandler and what derives from it), and, given the server's config,
    Jupyter's own websockets authenticated by token only under a hub (own_pages, rule 1). Stops the
    server with one line first if upstream is not what this package was written against."""
    upstream.check()
    import os

    from . import api_ports

    api_ports.SETTINGS = api_ports.parse_settings(os.environ)  # a wrong setting stops with one line
    if config is not None:
        # How long a revoked or expired token keeps working here: the hub is asked again after this.
        config.HubOAuth.cache_max_age = api_ports.SETTINGS.cache_seconds
        # Rule 1: a cookie alone no longer opens Jupyter's terminal and kernel websockets: any page on the
        # hub's domain can send alice's cookie. JupyterLab 4.6 puts the token of its page config in their
        # URL (JupyterHub's identity provider writes it there), which no other user's page can read.
        config.HubOAuth.allow_websocket_cookie_auth = False
        # landing: the app the server's default URL opens starts with the server; web_apps: the list
        config.ServerApp.jpserver_extensions.update({"labstack_proxy": True})
    if upstream.UPSTREAM:
        return  # installed already
    from .activity import ACTIVITY, load_rules

    ACTIVITY.rules = load_rules()
    for owner, name, value in replacements():
        upstream.replace(owner, name, value)
