"""`build.py run NAME` (`make run`): one image on 127.0.0.1:PORT with a fresh token, until stopped.

The container gets its own network namespace on the docker bridge and its port is published on
loopback only; the token is generated here and printed once, in the URLs. Ctrl-C, SIGTERM (`kill`, a
service manager) and SIGHUP (a closed terminal) all stop it the same way: the container is removed.
"""
from __future__ import annotations

import contextlib
import secrets
import signal
import time

import docker.errors
import requests

from . import LabstackError
from .engine import Log, client, engine_host, engine_is_local
from .containers import labels_for  # so `make clean` finds it too
READY_SECONDS = 180


def check_local_engine() -> None:
    """`run` publishes on this machine's loopback and waits for it there: an engine elsewhere can't."""
    if not engine_is_local():
        raise LabstackError(f"build.py run serves on this machine's loopback, and the engine is elsewhere "
                            f"({engine_host()}): run it on that machine, or use build.py test there")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # and SIGINT, which Python raises as KeyboardInterrupt


@contextlib.contextmanager
def stopped_like_ctrl_c():
    """SIGTERM and SIGHUP raise KeyboardInterrupt while this lasts, so that every way of stopping `run`
    takes the path Ctrl-C takes: the container removed, a build interrupted without tagging anything."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def serve(image: str, port: int, log: Log, out=print) -> int:
    """Serve until stopped; 0 once stopped by Ctrl-C, SIGTERM or SIGHUP."""
    token = secrets.token_hex(24)
    name = f"labstack-run-{secrets.token_hex(4)}"
    try:
        container = client().containers.run(image, detach=True, name=name, environment={"JUPYTER_TOKEN": token},
                                            ports={"8888/tcp": ("127.0.0.1", port)}, labels=labels_for("run"))
    except docker.errors.APIError as error:
        _remove(name)
        if "port is already allocated" in str(error) or "address already in use" in str(error):
            raise LabstackError(f"port {port} on 127.0.0.1 is taken: pass another with --port") from None
        raise LabstackError(f"cannot start {image}: {error.explanation}") from None
    try:
        base = f"http://127.0.0.1:{port}"
        apps = _wait_until_ready(container, base, token)
        out(f"labstack: {image} is up; Ctrl-C (or SIGTERM, SIGHUP) stops it and removes the container ({name})")
        out(f"  JupyterLab: {base}/lab?token={token}")
        for app in apps:
            out(f"  {app + ':':<11} {base}/{app}/?token={token}")
        while True:  # until stopped, or until the server stops by itself
            container.reload()
            if container.status != "running":
                tail = container.logs(tail=5).decode(errors="replace").strip()
                raise LabstackError(f"{image} stopped by itself: {tail.splitlines()[-1] if tail else 'no output'}")
            time.sleep(1)
    except KeyboardInterrupt as stop:
        log(f"labstack: stopping {name} ({stop.args[0] if stop.args else 'SIGINT'})")
        return 0
    finally:
        # a second Ctrl-C or kill while the container goes must not leave it behind
        for number in (signal.SIGINT, *STOP_SIGNALS):
            signal.signal(number, signal.SIG_IGN)
        _remove(name)


def _wait_until_ready(container, base: str, token: str) -> list[str]:
    """The names of the image's proxied apps, once Jupyter answers; bounded in count and time."""
    deadline = time.monotonic() + READY_SECONDS
    for _ in range(READY_SECONDS * 4):
        container.reload()
        if container.status == "exited":
            tail = container.logs(tail=5).decode(errors="replace").strip()
            raise LabstackError(f"the container exited at start: {tail.splitlines()[-1] if tail else 'no output'}")
        try:
            response = requests.get(f"{base}/server-proxy/servers-info", timeout=2,
                                    headers={"Authorization": f"token {token}"})
            if response.status_code == 200:
                return sorted(server["name"] for server in response.json()["server_processes"])
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    raise LabstackError(f"Jupyter did not answer within {READY_SECONDS}s")


def _remove(name: str) -> None:
    try:
        client().containers.get(name).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
