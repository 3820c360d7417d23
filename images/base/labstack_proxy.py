"""labstack's changes to jupyter-server-proxy's behaviour, all in this one module.

Written against the versions in SUPPORTED and the internals listed in REQUIRED. Everything here first
calls check_upstream(), which stops with one line if the installed jupyter-server-proxy is another
version or lacks what this module relies on, so an upgrade can never silently undo a change.

- Proxied responses stream (install(), from /etc/jupyter/jupyter_server_config.py). Upstream streams
  only when the request says `Accept: text/event-stream` and buffers every other response whole, in
  memory, up to Tornado's 100 MB limit (then 599). Here every response of a route without a
  rewrite_response is passed on as it arrives, with flow control (the next chunk is read once the
  last one is written to the browser), so memory stays flat and size is unlimited. A route with a
  rewrite_response must see the whole body, so it keeps upstream's buffering: no labstack image has
  one; a config that adds one gets upstream's behaviour for that route only.
- Uploads stream (install()). Upstream reads a request body whole into memory before proxying it (three
  times its size at the peak, and nothing over Jupyter's 512 MB max_body_size). Here a POST, PUT or
  PATCH body of known length to a route without a rewrite_response is passed on to the app as it
  arrives, once the request is authenticated, with flow control both ways. Any other body (chunked,
  another method, such a route) is read whole as before.
- Crashed apps come back (install()). Upstream starts an app on its first request and never again: a
  killed code-server leaves /vscode/ answering 500 until Jupyter restarts (upstream's `FIXME: Handle
  graceful exits` in ensure_process; jupyter-server-proxy#475). Here, before proxying, an app that
  has exited or no longer accepts connections is logged with its exit code, stopped, and started
  again with the same readiness wait as its first start. A restart loop is bounded: an app that had
  to be restarted RESTART_LIMIT times within RESTART_WINDOW seconds answers 503 until the window
  passes (its output, above in the Jupyter log, says why).
- One user's pages never drive another's server (install(c)). On a hub with one domain every user's
  server shares one browser origin, and with sharing on (or an admin looking at a student's page) a
  page one user serves on /proxy/<port>/ runs in another's browser with that origin: upstream lets it
  open the other user's terminals and kernels by websocket, POST to and read their proxied apps (it
  skips the XSRF check on every proxied route), set cookies for the whole domain and register a
  service worker for it. Four rules close that, each with its reason at the code (see OWN_PAGES):
  Jupyter's own websockets need the token JupyterLab holds (JupyterHub's allow_websocket_cookie_auth
  off); a cookie-authenticated proxied request that is not a top-level page load must come from this
  server's own pages (Sec-Fetch-Site, Origin, Referer); what another user is served from a proxied
  app runs in a sandbox, an origin of its own; and no proxied response sets a cookie or a service
  worker scope beyond this server's prefix.
- Standalone apps authenticate websockets (`python3 -m labstack_proxy ARGS`, in place of
  `jupyter-standaloneproxy ARGS`). Upstream's standalone handler replaces ProxyHandler.prepare, which
  authenticates every request, with a no-op, and authenticates only plain HTTP (in proxy()): a
  websocket upgrade reaches the app with no credentials at all, and VS Code's websocket is a shell.
  Here an upgrade needs the same hub user as HTTP (403 otherwise), and --no-authentication is refused.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
import time

SUPPORTED = ("4.6.0",)
# (module, attribute) this module uses or replaces: jupyter-server-proxy's and, under it, simpervisor's
REQUIRED = [
    ("jupyter_server_proxy.handlers", "UnixResolver"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._proxy_buffered"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.prepare"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.proxy"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.on_connection_close"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._build_proxy_request"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._rewrite_location_header"),
    ("jupyter_server_proxy.handlers", "ProxyHandler._record_activity"),
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.ensure_process"),
    ("jupyter_server_proxy.handlers", "ProxyHandler.check_xsrf_cookie"),  # a no-op: why own_page_refusal exists
    ("jupyterhub.services.auth", "HubOAuth.allow_websocket_cookie_auth"),
    ("jupyterhub.services.auth", "HubOAuth.cookie_name"),
    ("jupyterhub.services.auth", "HubOAuth._get_token_cookie"),  # reads handler._hub_auth_token_cookie first
    ("jupyterhub.services.auth", "HubAuth._get_token_url"),
    ("jupyterhub.singleuser.extension", "JupyterHubIdentityProvider.page_config_hook"),
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.unix_socket"),
    ("jupyter_server_proxy.handlers", "SuperviseAndProxyHandler.port"),
    ("jupyter_server_proxy.standalone.app", "StandaloneProxyServer"),
    ("jupyter_server_proxy.standalone.app", "make_standalone_proxy"),
    ("tornado.simple_httpclient", "SimpleAsyncHTTPClient._connection_class"),
    ("tornado.simple_httpclient", "_HTTPConnection._create_connection"),
    ("tornado.http1connection", "HTTP1Connection.set_max_body_size"),
    ("simpervisor.process", "SupervisedProcess.kill"),
    ("simpervisor.process", "Process.pid"),
    ("simpervisor.process", "Process.wait"),
]


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
    for module_name, attribute in REQUIRED:
        found = importlib.import_module(module_name)
        for name in attribute.split("."):
            found = getattr(found, name, None)
        if found is None:
            raise UpstreamChanged(f"labstack_proxy: jupyter-server-proxy {version} has no {module_name}.{attribute}: "
                                  "its internals changed; check images/base/labstack_proxy.py")


# ---- streaming responses

UNLIMITED = 1 << 62  # the client's max_body_size: no limit on what streams through
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}
STREAM_TIMEOUT = 7200.0  # seconds for a whole response, as upstream allows its event streams
# Bytes read at a time from the app and from the browser. Tornado reads 64 KB, and each chunk costs a
# round through the event loop: 1 MB chunks proxy at about twice the speed, and bound the memory an
# upload or a download holds to a few MB.
CHUNK_SIZE = 1 << 20


def read_in_large_chunks(connection) -> None:
    """Make a Tornado HTTP1Connection read CHUNK_SIZE at a time (its own parameters, not the server's)."""
    import copy

    connection.params = copy.copy(connection.params)
    connection.params.chunk_size = CHUNK_SIZE
    connection.stream.read_chunk_size = CHUNK_SIZE


@functools.lru_cache(maxsize=None)
def streaming_client_class() -> type:
    """Tornado's simple HTTP client, reading the app's responses in CHUNK_SIZE chunks (made once)."""
    from tornado.simple_httpclient import SimpleAsyncHTTPClient, _HTTPConnection

    class LargeChunkConnection(_HTTPConnection):
        def _create_connection(self, stream):
            connection = super()._create_connection(stream)
            read_in_large_chunks(connection)
            return connection

    class StreamingClient(SimpleAsyncHTTPClient):
        def _connection_class(self):
            return LargeChunkConnection

    return StreamingClient


def streaming_client(**options):
    """A client of streaming_client_class() with no body limit."""
    return streaming_client_class()(force_instance=True, max_body_size=UNLIMITED, **options)


def response_headers(handler, status_line: str, lines: list[str], host, port, proxied_path):
    """Status and headers of the app's response, as upstream's buffered path would pass them on:
    hop-by-hop headers dropped, every Set-Cookie kept, a redirect's Location given the proxy prefix."""
    from tornado import httputil

    start = httputil.parse_response_start_line(status_line)
    headers = httputil.HTTPHeaders()
    for line in lines:
        headers.parse_line(line)
    passed = []
    for name, value in headers.get_all():
        if name.lower() in HOP_BY_HOP:
            continue
        if name.lower() == "location" and not handler.absolute_url and start.code in (301, 302, 303, 307, 308):
            value = handler._rewrite_location_header(value, host, port, proxied_path)
        passed.append((name, value))
    return start.code, start.reason, passed


async def proxy_streaming(self, host, port, proxied_path, body, client):
    """ProxyHandler._proxy_buffered's replacement: stream, unless the route rewrites responses."""
    if self.rewrite_response:
        await UPSTREAM["_proxy_buffered"](self, host, port, proxied_path, body, client)
        return confine_response(self)  # written, not yet sent: Tornado sends it when the method returns
    from tornado import httpclient, httputil, iostream, web
    from jupyter_server_proxy.handlers import UnixResolver

    client.close()  # upstream's client has Tornado's 100 MB body limit; ours has none
    options = {"resolver": UnixResolver(self.unix_socket)} if self.unix_socket is not None else {}
    state = {"status": None, "lines": [], "sent": False}

    def header_callback(line: str) -> None:
        if line.startswith("HTTP/"):  # a new start line (after a 100 Continue, say): forget the last
            state["status"], state["lines"] = line.strip(), []
        elif line.strip():
            state["lines"].append(line)
        elif state["status"] and not state["status"].split()[1].startswith("1"):
            code, reason, headers = response_headers(self, state["status"], state["lines"], host, port, proxied_path)
            self.set_status(code, reason)
            self._headers = httputil.HTTPHeaders()  # none of Tornado's defaults: the app's own
            for name, value in headers:
                self.add_header(name, value)
            confine_response(self)
            state["sent"] = True

    def streaming_callback(chunk: bytes):
        self.write(chunk)
        return self.flush()  # read on once the browser has taken this chunk: memory stays flat

    upload = getattr(self, "labstack_upload", None)  # a request body being passed on as it arrives
    extra = {"body_producer": upload.produce, "allow_nonstandard_methods": True} if upload else {}
    request = self._build_proxy_request(host, port, proxied_path, None if upload else body,
                                        header_callback=header_callback, streaming_callback=streaming_callback, **extra)
    request.request_timeout = STREAM_TIMEOUT
    self._record_activity()
    # A request that meets an app dying at that moment (its socket still open, its process gone) is
    # sent once more after the app is checked again (and restarted): only GET and HEAD, only before
    # any of the answer went out.
    retry = self.request.method in ("GET", "HEAD") and hasattr(self, "ensure_process")
    for attempt in (1, 2):
        client = streaming_client(**options)
        try:
            response = await client.fetch(request, raise_error=False)
            break
        except iostream.StreamClosedError:
            return  # the browser went away: the app's connection is closed with this request
        except (ConnectionError, FileNotFoundError):
            if not (retry and attempt == 1 and not state["sent"]):
                raise
        except httpclient.HTTPClientError as error:  # a timeout (599), raised whatever raise_error says
            if state["sent"]:
                self.request.connection.stream.close()  # mid-response: no truncated body taken for whole
                return
            raise web.HTTPError(error.code, str(error))
        finally:
            self._record_activity()
            client.close()
        await asyncio.sleep(0.5)
        await self.ensure_process()
    if response.error and not isinstance(response.error, httpclient.HTTPClientError):
        if isinstance(response.error, iostream.StreamClosedError) and self.request.connection.stream.closed():
            return  # the browser went away mid-download
        if not state["sent"]:
            raise web.HTTPError(599 if getattr(response.error, "code", 0) == 599 else 500, str(response.error))
        # The app died mid-response: the browser must not take the truncated body for the whole.
        self.log.warning("labstack_proxy: %s ended mid-response: %s", request.url, response.error)
        self.request.connection.stream.close()
        return
    if not state["sent"]:  # an answer without a body callback (no headers seen): as upstream would
        self.set_status(response.code, response.reason)


# ---- streaming request bodies (uploads)

STREAMED_METHODS = ("POST", "PUT", "PATCH")  # the methods Tornado's client sends a body for
UPLOAD_QUEUE = 8  # chunks of the browser's body held at most while the app takes them (8 MB)


def has_length(headers) -> bool:
    """A body of known length: it goes to the app with the same Content-Length. A chunked body is read whole
    and sent with a length, as upstream does: many apps (Python's http.server among them) read only
    Content-Length."""
    try:
        return int(headers.get("Content-Length", "0")) > 0 and "Transfer-Encoding" not in headers
    except ValueError:
        return False  # Tornado refuses such a request before any handler


class RequestBody:
    """A request body on its way from the browser to the app: data_received puts chunks in, the app's
    request takes them out. The browser is read on only once the app took a chunk (UPLOAD_QUEUE)."""

    END = None

    def __init__(self):
        self.chunks: asyncio.Queue = asyncio.Queue(maxsize=UPLOAD_QUEUE)
        self.aborted = asyncio.get_running_loop().create_future()
        self.request = None  # the task proxying it, set once started

    async def received(self, chunk: bytes) -> None:
        put = asyncio.ensure_future(self.chunks.put(chunk))
        # the app's request may end before the body does (it answered, or failed): then the rest is dropped
        await asyncio.wait([put, self.request], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def produce(self, write) -> None:
        """Tornado's body_producer: write each chunk to the app as it arrives, until the end."""
        from tornado import iostream

        while True:
            chunk = asyncio.ensure_future(self.chunks.get())
            await asyncio.wait([chunk, self.aborted], return_when=asyncio.FIRST_COMPLETED)
            if not chunk.done():
                chunk.cancel()
                raise iostream.StreamClosedError()  # the browser went away: the app's connection is closed
            if chunk.result() is self.END:
                return
            await write(chunk.result())

    async def end(self) -> None:
        if not self.request.done():
            await self.received(self.END)

    def abort(self) -> None:
        if not self.aborted.done():
            self.aborted.set_result(None)


async def called(method, *args, **kwargs) -> None:
    """Call a handler's method and wait for what it returns, if anything (upstream's are sync and async)."""
    answer = method(*args, **kwargs)
    if inspect.isawaitable(answer):
        await answer


async def prepare_streaming_upload(self, *args, **kwargs):
    """ProxyHandler.prepare's replacement. A body that streams: once the request is authenticated
    (upstream's prepare), its request to the app starts now, before the body is read, and the method
    Tornado calls when the body has been read waits for that request to finish. Any other request:
    upstream's prepare runs when Tornado calls the method, after it has read the request to its end, as
    it did before bodies streamed; run here, a refusal or a login redirect would close the browser's
    keep-alive connection (Tornado closes one answered before its request was read)."""
    name = self.request.method.lower()
    method = getattr(self, name)
    if (self.rewrite_response or self.request.method not in STREAMED_METHODS
            or not has_length(self.request.headers)):
        async def prepared_then_method(*args, **kwargs):
            await authenticate_own_pages(self)
            if not self._finished:
                await called(method, *args, **kwargs)

        setattr(self, name, prepared_then_method)
        return
    await authenticate_own_pages(self, *args, **kwargs)  # nothing is read from someone refused
    if self._finished:
        return
    self.request.connection.set_max_body_size(UNLIMITED)
    read_in_large_chunks(self.request.connection)
    self.labstack_upload = upload = RequestBody()

    upload.request = asyncio.ensure_future(called(method, *self.path_args, **self.path_kwargs))

    async def after_body(*_args, **_kwargs):
        await upload.end()
        await upload.request

    setattr(self, name, after_body)  # what Tornado calls once the whole body is in


def data_received(self, chunk: bytes):
    """Tornado's streamed body: to the app as it arrives, or kept as upstream would (a body that does not
    stream: another method, a route with a rewrite_response, the standalone proxy)."""
    upload = getattr(self, "labstack_upload", None)
    if upload is not None:
        return upload.received(chunk)
    self.__dict__.setdefault("labstack_body", []).append(chunk)
    return None


def proxy_with_body(self, host, port, proxied_path):
    """ProxyHandler.proxy's replacement: a body read whole (not streamed) is handed to upstream's proxy."""
    chunks = self.__dict__.pop("labstack_body", None)
    if chunks:
        self.request.body = b"".join(chunks)
    return UPSTREAM["proxy"](self, host, port, proxied_path)


def on_connection_close(self):
    """The browser went away: an upload in flight is ended (closing the app's connection), and Tornado's
    wait for the rest of a streamed body too (WebSocketHandler's on_connection_close, which upstream's
    handler inherits, leaves that wait hanging)."""
    from tornado import web

    upload = getattr(self, "labstack_upload", None)
    if upload is not None:
        upload.abort()
    if self.ws_connection is None:
        web.RequestHandler.on_connection_close(self)
    UPSTREAM["on_connection_close"](self)


# ---- crashed apps come back

RESTART_LIMIT = 3
RESTART_WINDOW = 60.0  # seconds


async def accepts_connections(handler) -> bool:
    """Whether the app takes a connection now (cheap: no request is made)."""
    try:
        if handler.unix_socket is not None:
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(handler.unix_socket), 5)
        else:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", handler.port), 5)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def ensure_process_restarting(self):
    """SuperviseAndProxyHandler.ensure_process's replacement: an app that has exited, or stopped taking
    connections, is stopped and started again through upstream's start (bounded)."""
    from tornado import web

    def keeps_crashing():
        return web.HTTPError(503, f"{self.name} keeps crashing: restarted {RESTART_LIMIT} times in "
                                  f"{RESTART_WINDOW:.0f} s; its output is in the Jupyter log")

    if time.monotonic() - self.state.get("labstack_gave_up", -RESTART_WINDOW) < RESTART_WINDOW:
        raise keeps_crashing()  # not started again until the window has passed: no spinning
    process = self.state.get("proc")
    if process is not None and not isinstance(process, str) and not await healthy(self, process):
        async with self.state["proc_lock"]:
            # re-checked under the lock: a concurrent request may have restarted it already
            if self.state.get("proc") is process and not await healthy(self, process):
                restarts = [t for t in self.state.get("labstack_restarts", []) if time.monotonic() - t < RESTART_WINDOW]
                crashing = len(restarts) >= RESTART_LIMIT
                self.log.error("labstack_proxy: %s %s; %s", self.name, self.state.get("labstack_exit", "stopped taking connections"),
                               "it keeps crashing: not starting it again for now" if crashing else "starting it again")
                # simpervisor restarts a process that exits non-zero at once, without waiting for it to be
                # ready (and again and again if it dies at once): that one is stopped too
                await stop(self, process)
                if crashing:
                    self.state["labstack_gave_up"] = time.monotonic()
                    raise keeps_crashing()
                self.state["labstack_restarts"] = restarts + [time.monotonic()]
    before = self.state.get("proc")
    await UPSTREAM["ensure_process"](self)
    process = self.state.get("proc")
    # Only a process upstream started (and found ready) in this call is the one to watch: not one
    # simpervisor swapped in behind it, which is caught as unhealthy by the next request.
    if process is not before and process is not None and not isinstance(process, str):
        self.state["labstack_pid"] = process.proc.pid  # started and ready: the process to watch
        self.state.pop("labstack_exit", None)
        asyncio.ensure_future(log_exit(self, process.proc))


async def stop(handler, process) -> None:
    """Stop the app for good (simpervisor does not restart what it was told to kill), with every process
    it started (simpervisor signals only its own child: code-server's server process would live on as an
    orphan), and forget it."""
    import signal

    handler.state["labstack_pid"] = None  # stopped on purpose: not an exit to report
    children = descendants(process.proc.pid) if process.proc is not None else []
    try:
        await process.kill()
    except Exception:  # already reaped or killed: nothing left to stop
        pass
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if handler.unix_socket and os.path.exists(handler.unix_socket):
        os.unlink(handler.unix_socket)  # a killed app leaves its socket behind
    del handler.state["proc"]


def descendants(pid: int) -> list[int]:
    """Every process below pid, read from /proc (children first found, then theirs)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])  # the field after the state
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


async def log_exit(handler, child) -> None:
    """Log the app's exit code the moment it exits (not at the next request)."""
    code = await child.wait()
    if handler.state.get("labstack_pid") == child.pid:
        handler.state["labstack_exit"] = f"exited with code {code}"
        handler.log.error("labstack_proxy: %s exited with code %s", handler.name, code)


async def healthy(handler, process) -> bool:
    """Running, still the process that was started and found ready, and taking connections."""
    return (process.running and process.proc.pid == handler.state.get("labstack_pid")
            and await accepts_connections(handler))

# ---- one user's pages never drive another's server

OWN_PAGES = """Why a request from another user's page is told apart as it is.

On one domain alice's and mallory's pages share an origin, so Origin and Sec-Fetch-Site read the
same for both, and every cookie of alice's rides along with mallory's requests. Four rules:
1. Jupyter's own websockets (terminals, kernels) need a token: JupyterHub's allow_websocket_cookie_auth
   off (install()). JupyterHub tells a websocket by `Sec-Fetch-Mode: websocket`, which chromium does
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


UPSTREAM: dict = {}  # what install() replaced, by name: the replacements call these


def replacements() -> list:
    """(class, attribute, labstack's value) for everything install() changes: in jupyter-server-proxy, and
    in JupyterHub's single-user authentication for rule 1 of OWN_PAGES."""
    from jupyter_server_proxy.handlers import ProxyHandler, SuperviseAndProxyHandler
    from jupyterhub.services.auth import HubAuth, HubOAuth
    from jupyterhub.singleuser.extension import JupyterHubIdentityProvider

    return [
        (HubOAuth, "_get_token_cookie", token_cookie_not_for_websockets),
        (HubAuth, "_get_token_url", token_in_websocket_url),
        (JupyterHubIdentityProvider, "page_config_hook", page_config_appending_token),
        (ProxyHandler, "_proxy_buffered", proxy_streaming),
        # Tornado hands the body to data_received as it arrives (what @web.stream_request_body sets)
        (ProxyHandler, "_stream_request_body", True),
        (ProxyHandler, "prepare", prepare_streaming_upload),
        (ProxyHandler, "data_received", data_received),
        (ProxyHandler, "proxy", proxy_with_body),
        (ProxyHandler, "on_connection_close", on_connection_close),
        (SuperviseAndProxyHandler, "ensure_process", ensure_process_restarting),
    ]


def install(config=None) -> None:
    """Streaming responses and uploads, restarting apps and own-page checks for every jupyter-server-proxy
    route of this server (its ProxyHandler and what derives from it), and, given the server's config,
    Jupyter's own websockets authenticated by token only under a hub (OWN_PAGES)."""
    check_upstream()
    if config is not None:
        # Rule 1: a cookie alone no longer opens Jupyter's terminal and kernel websockets: any page on the
        # hub's domain can send alice's cookie. JupyterLab 4.6 puts the token of its page config in their
        # URL (JupyterHub's identity provider writes it there), which no other user's page can read.
        config.HubOAuth.allow_websocket_cookie_auth = False
    if UPSTREAM:
        return
    for owner, name, value in replacements():
        UPSTREAM[name] = getattr(owner, name)
        setattr(owner, name, value)


# ---- the standalone proxy

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
