"""Crashed apps come back.

Upstream starts an app on its first request and never again: a killed code-server leaves /vscode/
answering 500 until Jupyter restarts (upstream's `FIXME: Handle graceful exits` in ensure_process;
jupyter-server-proxy#475). Here, before proxying, an app that has exited or no longer accepts
connections is logged with its exit code, stopped, and started again with the same readiness wait as
its first start. A restart loop is bounded: an app that had to be restarted RESTART_LIMIT times within
RESTART_WINDOW seconds answers 503 until the window passes (its output, above in the Jupyter log,
says why).
"""
from __future__ import annotations

import asyncio
import os
import time

from .upstream import UPSTREAM


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
