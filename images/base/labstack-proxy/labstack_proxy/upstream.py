"""Every upstream internal labstack_proxy touches, and the start-up check that they are still there.

labstack_proxy replaces and calls private parts of jupyter-server-proxy, of JupyterHub's single-user
authentication, of Tornado and of simpervisor. check() runs before anything is installed: a version
that is not in SUPPORTED, a missing name or a replaced method whose parameters changed stops the
server with one line, so an upgrade can never silently undo a change.
"""
from __future__ import annotations

import importlib
import inspect
from importlib.metadata import PackageNotFoundError, version

# The distributions whose internals are used, at the versions this package was read against. The
# image installs them from images/base/install/jupyter-lock.txt (a unit test checks the lock is in here).
SUPPORTED = {
    "jupyter-server-proxy": ("4.6.0",),
    "jupyterhub": ("5.5.4",),
    "tornado": ("6.6.1",),
    "simpervisor": ("1.0.0",),
    "jupyter-server": ("2.21.1",),
    "jupyter-server-terminals": ("0.5.4",),
    "terminado": ("0.18.1",),
}

# (module, attribute, what it must be): every internal used or replaced. A method is given by its
# parameters (names only: annotations render differently across Python versions), anything else by
# its kind. "property", "class", "traitlet", "attribute" (a plain class attribute).
INTERNALS = [
    # jupyter-server-proxy: the handler every proxied route derives from
    ("jupyter_server_proxy.handlers", "ProxyHandler._proxy_buffered", "self, host, port, proxied_path, body, client"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.prepare", "self, *args, **kwargs"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.proxy", "self, host, port, proxied_path"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.data_received", "self, chunk"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.on_connection_close", "self"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._build_proxy_request", "self, host, port, proxied_path, body, **extra_opts"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._rewrite_location_header", "self, location, host, port, proxied_path"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._record_activity", "self"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.on_message", "self, message"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.check_xsrf_cookie", "self"),  # a no-op: why own_pages exists
    ("jupyter_server_proxy.handlers", "UnixResolver", "class"),
    # ... its websockets (flow): the browser's side, and the connection to the app
    ("jupyter_server_proxy.handlers", "ProxyHandler.proxy_open", "self, host, port, proxied_path"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.write_message", "self, message, binary"),
    ("jupyter_server_proxy.websocket", "PingableWSClientConnection", "class"),
    ("jupyter_server_proxy.websocket", "pingable_ws_connect", "request, on_message_callback, on_ping_callback, subprotocols, resolver"),
    ("tornado.websocket", "WebSocketClientConnection._on_message", "self, message"),
    ("tornado.websocket", "WebSocketClientConnection.write_message", "self, message, binary"),
    # ... and the one that starts apps
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.ensure_process", "self"),
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.unix_socket", "property"),
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.port", "property"),
    # ... how its routes are made, which landing reads to start an app with the server
    ("jupyter_server_proxy.config", "make_handlers", "base_url, server_processes"),
    ("tornado.routing", "Rule", "class"),
    ("tornado.routing", "PathMatches", "class"),
    ("tornado.httputil", "RequestStartLine", "class"),
    ("tornado.httputil", "HTTPServerRequest.__init__",
     "self, method, uri, version, headers, body, host, files, connection, start_line, server_connection"),
    ("jupyter_server_proxy.standalone.app", "StandaloneProxyServer", "class"),
    ("jupyter_server_proxy.standalone.app", "make_standalone_proxy", "base_proxy_class, proxy_kwargs"),
    ("jupyter_server_proxy.standalone.app", "start_activity_update", "interval"),
    # Jupyter Server: what counts as its activity (activity)
    ("jupyter_server.base.handlers", "APIHandler.update_api_activity", "self"),
    ("jupyter_server.serverapp", "ServerWebApplication.last_activity", "self"),
    ("jupyter_server.services.kernels.kernelmanager", "MappingKernelManager.list_kernel_ids", "self"),
    ("jupyter_server.services.kernels.kernelmanager", "MappingKernelManager.start_watching_activity", "self, kernel_id"),
    ("jupyter_server.services.kernels.kernelmanager", "ServerKernelManager.execution_state", "traitlet"),
    ("jupyter_server.services.kernels.kernelmanager", "ServerKernelManager.last_activity", "traitlet"),
    # JupyterHub's single-user authentication (own_pages, rule 1)
    ("jupyterhub.services.auth", "HubOAuth.allow_websocket_cookie_auth", "traitlet"),
    ("jupyterhub.services.auth", "HubOAuth.cookie_name", "property"),
    ("jupyterhub.services.auth", "HubOAuth._get_token_cookie", "self, handler"),
    ("jupyterhub.services.auth", "HubAuth._get_token_url", "self, handler"),
    ("jupyterhub.singleuser.extension", "JupyterHubIdentityProvider.page_config_hook", "self, handler, page_config"),
    # ... and its identity provider, the single check of every request's user and scopes (api_ports)
    ("jupyterhub.singleuser.extension", "JupyterHubIdentityProvider.get_user", "self, handler"),
    ("jupyterhub.singleuser.extension", "JupyterHubUser", "class"),
    ("jupyterhub.services.auth", "HubAuth.user_for_token", "self, token, use_cache, session_id, sync"),
    ("jupyterhub.services.auth", "HubAuth.check_scopes", "self, required_scopes, user"),
    ("jupyterhub.services.auth", "HubAuth.access_scopes", "traitlet"),
    ("jupyterhub.services.auth", "HubAuth.cache_max_age", "traitlet"),
    ("jupyter_server_proxy.handlers", "LocalProxyHandler", "class"),
    # Jupyter's terminals (flow)
    ("jupyter_server_terminals.handlers", "TermSocket.write_message", "self, message, binary"),
    ("jupyter_server_terminals.handlers", "TermSocket._update_activity", "self"),
    ("terminado.management", "TermManagerBase.pty_read", "self, fd, events"),
    ("terminado.management", "TermManagerBase.start_reading", "self, ptywclients"),
    # Tornado: its HTTP client's connection (large reads), a request's body limit and streaming
    ("tornado.simple_httpclient", "SimpleAsyncHTTPClient._connection_class", "self"),
    ("tornado.simple_httpclient", "_HTTPConnection._create_connection", "self, stream"),
    ("tornado.http1connection", "HTTP1Connection.set_max_body_size", "self, max_body_size"),
    ("tornado.web", "RequestHandler._stream_request_body", "attribute"),
    # simpervisor: the process jupyter-server-proxy keeps in its state
    ("simpervisor.process", "SupervisedProcess.kill", "self"),
    ("simpervisor.process", "Process.pid", "property"),
    ("simpervisor.process", "Process.wait", "self"),
]

# Private names no class attribute shows (instance attributes, keys of a dict): the upstream function
# whose source must still use them.
USED_IN_SOURCE = [
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.ensure_process", ('self.state["proc"]', 'self.state["proc_lock"]')),
    # upstream makes the app's connection with its module's class, and passes the app's messages on
    # through the callback it gives the connection (flow's AppConnection replaces the class)
    ("jupyter_server_proxy.websocket", "pingable_ws_connect", ("conn = PingableWSClientConnection(",)),
    ("jupyter_server_proxy.handlers", "ProxyHandler.proxy_open", ("self.write_message(message, binary=", "pingable_ws_connect(")),
    ("tornado.websocket", "WebSocketClientConnection._on_message", ("self._on_message_callback(message)",)),
    # activity.terminal_output is upstream's without its _update_activity() (flow's counts what the
    # browser has not taken yet too); pty_read is where the pty is read
    ("jupyter_server_terminals.handlers", "TermSocket.write_message", ("super().write_message(message, binary=binary)", "self._update_activity()")),
    # jobs: the kernel whose state upstream's iopub watcher sets, and Jupyter's sources of activity,
    # which activity.activity_without_output_past_cap reads again kernel by kernel
    ("jupyter_server.services.kernels.kernelmanager", "MappingKernelManager.start_watching_activity",
     ("kernel = self._kernels[kernel_id]", "kernel.execution_state = execution_state")),
    ("jupyter_server.serverapp", "ServerWebApplication.last_activity",
     ('self.settings["started"]', 'self.settings["kernel_manager"].last_kernel_activity', 'key.endswith("_last_activity")',
      'self.settings["last_activity_times"].values()')),
    ("terminado.management", "TermManagerBase.start_reading", ("loop.add_handler(fd, self.pty_read, loop.READ)",)),
    ("terminado.management", "TermManagerBase.pty_read", ("ptywclients.read_buffer.append(s)", "client.on_pty_read(s)")),
    # upstream refuses a user without access scopes by making redirects raise 403, as an attribute
    # of the handler (api_ports removes it when a port-scoped token is allowed)
    ("jupyterhub.singleuser.extension", "JupyterHubIdentityProvider.get_user",
     ("handler.redirect = raise_on_redirect", "handler._jupyterhub_user = JupyterHubUser(user)")),
    ("jupyter_server_proxy.handlers", "setup_handlers", ('r"/proxy/(\\d+)(/.*|)"', "LocalProxyHandler,")),
    ("jupyter_server_proxy.config", "make_handlers", ('ujoin(base_url, server.name, r"(.*)"), handler, kwargs',)),
    ("tornado.web", "Application.__init__", ("self.default_router = ",)),
    ("tornado.routing", "RuleRouter.__init__", ("self.rules: list[Rule] = []",)),
    ("tornado.routing", "Rule.__init__", ("self.target_kwargs = ",)),
    ("tornado.routing", "PathMatches.__init__", ("self.regex = ",)),
    ("tornado.web", "RequestHandler.__init__", ("self.request.connection.set_close_callback(",)),
    ("tornado.web", "RequestHandler.clear", ("self._headers = ",)),
    ("tornado.web", "RequestHandler.__init__", ("self._finished = ",)),
    ("tornado.web", "stream_request_body", ("cls._stream_request_body = True",)),
]

UPSTREAM: dict = {}  # what install() replaced, by name: the replacements call these


class UpstreamChanged(SystemExit):
    """Raised as SystemExit, not an Exception: traitlets would log an Exception from the server's config
    file and go on without the rest of it."""


def parameters(function) -> str:
    """A function's parameter names as written in its def (no annotations, no defaults)."""
    rendered = []
    for parameter in inspect.signature(function).parameters.values():
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
        rendered.append(prefix + parameter.name)
    return ", ".join(rendered)


def kind(found) -> str:
    """What an internal is, in INTERNALS' words, or its parameters when it is a function."""
    from traitlets import TraitType

    if isinstance(found, property):
        return "property"
    if isinstance(found, TraitType):
        return "traitlet"
    if isinstance(found, type):
        return "class"
    if inspect.isfunction(found):
        return parameters(found)
    return "attribute"


def lookup(module_name: str, attribute: str):
    """The object as its class holds it (a property as the property, a traitlet as the trait), or None."""
    found = importlib.import_module(module_name)
    for name in attribute.split("."):
        if isinstance(found, type):
            owner = next((klass for klass in found.__mro__ if name in vars(klass)), None)
            found = vars(owner)[name] if owner else None
        else:
            found = getattr(found, name, None)
        if found is None:
            return None
    return found


def installed_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "none"


def problems() -> list[str]:
    """Everything that differs from what this package was written against, one line each."""
    found = []
    for distribution, supported in SUPPORTED.items():
        installed = installed_version(distribution)
        if installed not in supported:
            found.append(f"written for {distribution} {' or '.join(supported)}, found {installed}")
    for module_name, attribute, expected in INTERNALS:
        internal = lookup(module_name, attribute)
        if internal is None:
            found.append(f"no {module_name}.{attribute}")
        elif kind(internal) != expected:
            found.append(f"{module_name}.{attribute} is ({kind(internal)}), not ({expected})")
    for module_name, attribute, names in USED_IN_SOURCE:
        internal = lookup(module_name, attribute)
        source = inspect.getsource(internal) if internal is not None else ""
        found += [f"{module_name}.{attribute} no longer uses {name.strip(' =')}" for name in names if name not in source]
    return found


def check() -> None:
    """Stop with one line unless upstream is what this package was written against."""
    if UPSTREAM:
        return  # checked before it was installed: what is found now is labstack's own
    found = problems()
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UpstreamChanged(f"labstack_proxy: {found[0]}{more}: upstream changed; check "
                              "images/base/labstack-proxy against it, then its SUPPORTED and INTERNALS")


def replace(owner: type, name: str, value) -> None:
    """Put labstack's value in place of upstream's, keeping upstream's in UPSTREAM for the value to call."""
    UPSTREAM[name] = getattr(owner, name)
    setattr(owner, name, value)
