"""A slow side of a websocket never swells Jupyter: flow control for proxied websockets and terminals.

Upstream passes every message one side of a websocket sends to the other without waiting: when the
browser reads nothing (a bad network, a suspended laptop), everything the app sends is held in
Jupyter's memory, hundreds of MB for one tab, until a hub's memory limit kills the whole server. The
same holds for the app not reading what the browser sends, and for Jupyter's own terminals, whose pty
is read as fast as the program writes.

Tornado gives the means (its documented flow control): write_message returns a Future that is done once
the socket has taken the message, and a websocket's next message is read only once on_message's
awaitable is done. Here each direction counts what it wrote and was not taken yet (Held); past LIMIT
bytes, the sending side is not read until the slow side has taken half of it. TCP then slows the sender,
as it would with no proxy between them. Control frames are written at once; a close from the slow side
is read as ever (its own direction never waits), and one from the sender arrives after its data, in order.

Terminals: while any browser of a terminal holds more than LIMIT, its pty is not read, so the program
writing waits, as it would on a real terminal; nothing is dropped. The output a reconnecting browser is
sent again (terminado keeps its last 1,000 reads) is kept to REPLAY_CHARS.
"""
from __future__ import annotations

import contextvars
import functools
import os
from collections import deque

from .upstream import UPSTREAM

# What one direction of one websocket may hold for a side that is not taking it (one setting, in MB;
# 0 leaves upstream's unbounded path, which `make bench` compares against).
LIMIT = int(float(os.environ.get("LABSTACK_WEBSOCKET_BUFFER_MB", "4")) * (1 << 20))
REPLAY_CHARS = 1 << 20  # a terminal's output sent again to a browser that reconnects

# The proxied websocket whose connection to the app is being made (see proxy_open)
OPENING = contextvars.ContextVar("labstack_websocket_opening", default=None)


class Held:
    """What was written to one side of a websocket and not yet taken by its socket."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes: deque = deque()  # their Futures, in the order written: Tornado completes them in order

    def wrote(self, future, size: int) -> None:
        self.bytes += size
        future.add_done_callback(lambda _: self.taken(size))
        while self.writes and self.writes[0].done():
            self.writes.popleft()
        self.writes.append(future)

    def taken(self, size: int) -> None:
        self.bytes -= size

    def over(self) -> bool:
        return self.bytes > LIMIT

    async def drained(self) -> None:
        """Done once at most LIMIT / 2 is held, or the side has closed (what it held goes with it)."""
        while self.bytes > LIMIT // 2 and self.writes:
            future = self.writes.popleft()
            try:
                await future
            except Exception:  # noqa: BLE001 - a closed stream fails its writes: nothing more to wait for
                return

    def wait(self):
        """What on_message returns: an awaitable past the limit, None below it (read on at once)."""
        return self.drained() if self.over() else None


def held(side) -> Held:
    """The Held of a handler or of a connection to an app, made on first use."""
    found = getattr(side, "labstack_held", None)
    if found is None:
        found = side.labstack_held = Held()
    return found


# ---- proxied websockets (every jupyter-server-proxy route)

def write_message(self, message, binary: bool = False):
    """ProxyHandler.write_message: Tornado's, counting what the browser has not taken yet."""
    from tornado.websocket import WebSocketHandler

    future = WebSocketHandler.write_message(self, message, binary=binary)
    held(self).wrote(future, len(message))
    return future


async def proxy_open(self, host, port, proxied_path=""):
    """ProxyHandler.proxy_open's replacement: upstream's, with this handler known to the connection it
    makes to the app (an AppConnection: upstream's module-level class is replaced by it), which reads the
    app's next message once the browser has taken enough of the last ones."""
    opening = OPENING.set(self)
    try:
        await UPSTREAM["proxy_open"](self, host, port, proxied_path)
    finally:
        OPENING.reset(opening)


def on_message(self, message):
    """ProxyHandler.on_message's replacement: activity counts it and upstream passes it on to the app; the
    browser's next message is read once the app has taken enough."""
    from .activity import on_message as count_and_pass_on

    count_and_pass_on(self, message)
    app = getattr(self, "ws", None)
    return held(app).wait() if app is not None else None


@functools.lru_cache(maxsize=None)
def app_connection_class(upstream_class: type) -> type:
    """jupyter-server-proxy's connection to an app, with flow control both ways (made once)."""

    class AppConnection(upstream_class):
        def __init__(self, **kwargs):
            self.labstack_browser = OPENING.get()  # the handler the app's messages go to
            super().__init__(**kwargs)

        def write_message(self, message, binary: bool = False):
            future = super().write_message(message, binary=binary)
            held(self).wrote(future, len(message))
            return future

        def _on_message(self, message):
            # upstream's callback writes the message to the browser (or closes it, at the app's close)
            result = super()._on_message(message)
            browser = self.labstack_browser
            if browser is None or message is None:
                return result
            return held(browser).wait()

    return AppConnection


# ---- Jupyter's terminals

def terminal_write_message(self, message, binary: bool = False):
    """jupyter_server_terminals' TermSocket.write_message: labstack's (activity.terminal_output:
    Tornado's, not counted as a person), counting what the browser has not taken yet."""
    from .activity import terminal_output

    future = terminal_output(self, message, binary=binary)
    held(self).wrote(future, len(message))
    return future


def pty_read(self, fd, events=None):
    """terminado's TermManagerBase.pty_read: upstream's (one read, sent to every browser of the terminal),
    then, while a browser holds more than LIMIT, the pty is not read until it has taken half."""
    UPSTREAM["pty_read"](self, fd, events)
    terminal = self.ptys_by_fd.get(fd)
    if terminal is None:
        return  # ended
    keep_replay_short(terminal.read_buffer)
    slow = [client for client in terminal.clients if held(client).over()]
    if slow:
        pause_reading(self, terminal, fd, slow)


def pause_reading(manager, terminal, fd, slow) -> None:
    from tornado.ioloop import IOLoop

    loop = IOLoop.current()
    loop.remove_handler(fd)

    async def resume():
        for client in slow:
            await held(client).drained()
        if manager.ptys_by_fd.get(fd) is terminal:  # still the same terminal: read it again
            loop.add_handler(fd, manager.pty_read, loop.READ)

    loop.spawn_callback(resume)


def keep_replay_short(read_buffer: deque) -> None:
    total = sum(map(len, read_buffer))
    while total > REPLAY_CHARS and len(read_buffer) > 1:
        total -= len(read_buffer.popleft())
