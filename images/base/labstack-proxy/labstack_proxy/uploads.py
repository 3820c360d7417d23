"""Uploads stream.

Upstream reads a request body whole into memory before proxying it (three times its size at the peak,
and nothing over Jupyter's 512 MB max_body_size). Here a POST, PUT or PATCH body of known length to a
route without a rewrite_response is passed on to the app as it arrives, once the request is
authenticated (own_pages.authenticate_own_pages, before a byte of it is read), with flow control both
ways. Any other body (chunked, another method, such a route) is read whole as before.
"""
from __future__ import annotations

import asyncio
import inspect

from .api_ports import answer_preflight, is_preflight
from .own_pages import authenticate_own_pages
from .streaming import UNLIMITED, read_in_large_chunks
from .upstream import UPSTREAM


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
    if is_preflight(self):
        # answered when Tornado calls the method, once the request is read: answered here, it would
        # close the connection, which the hub's proxy keeps alive and sends the next request on (the
        # browser's fetch, right after its preflight, then fails: 503 "socket hang up")
        setattr(self, name, lambda *args, **kwargs: answer_preflight(self))
        return
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
    from .activity import record_request

    chunks = self.__dict__.pop("labstack_body", None)
    if chunks:
        self.request.body = b"".join(chunks)
    record_request(self, proxied_path)
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

