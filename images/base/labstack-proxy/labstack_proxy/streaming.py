"""Proxied responses stream.

Upstream streams only when the request says `Accept: text/event-stream` and buffers every other
response whole, in memory, up to Tornado's 100 MB limit (then 599). Here every response of a route
without a rewrite_response is passed on as it arrives, with flow control (the next chunk is read once
the last one is written to the browser), so memory stays flat and size is unlimited. A route with a
rewrite_response must see the whole body, so it keeps upstream's buffering: no labstack image has one;
a config that adds one gets upstream's behaviour for that route only.
"""
from __future__ import annotations

import asyncio
import functools

from .api_ports import allow_origin
from .own_pages import confine_response
from .upstream import UPSTREAM


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
        confine_response(self)  # written, not yet sent: Tornado sends it when the method returns
        return allow_origin(self)
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
            allow_origin(self)
            state["sent"] = True

    def streaming_callback(chunk: bytes):
        self.write(chunk)
        # Read on once the browser has taken this chunk: memory stays flat. Tornado's own flush, not the
        # handler's: upstream's WebSocketHandlerMixin covers it on each handler with a wrapper that drops
        # the future, and a browser slower than the app then had the app's whole answer held in Jupyter.
        return web.RequestHandler.flush(self)

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

