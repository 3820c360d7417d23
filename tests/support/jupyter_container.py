"""Boot a labstack image and probe it through Jupyter: what the image tests share.

Containers use host networking (what works on machines without a bridge) and listen on a free loopback
port with a token. On an engine on another machine (DOCKER_HOST, a docker context: labstack.engine) they
run on its default bridge instead, publish Jupyter's port on that machine's address, and are reached
there. Every wait loop is bounded in count and time.
"""
from __future__ import annotations

import secrets
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import requests

from tracked import TestContainer
from labstack.engine import engine_is_local, published_address

T = TypeVar("T")


def poll_until(check: Callable[[], T], timeout: float, interval: float, failure: Callable[[], str]) -> T:
    """Call check() every `interval` seconds until it returns something truthy, and return that.

    Bounded in count and in time; check() may raise to give up early (a container that exited).
    """
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError(failure())


def answers(url: str, ok: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
            **kwargs: Any) -> requests.Response | None:
    """GET url once: the response if ok(response), else None (connection errors included)."""
    try:
        response = requests.get(url, **{"timeout": 10, **kwargs})
    except requests.RequestException:
        return None
    return response if ok(response) else None


def copy_into(container, path, folder: str = "/tmp") -> str:
    """Copy a host file into a container's folder (any container of the engine's); its path there. The
    engine refuses archives into a container with a read-only root, even onto its tmpfs: such a
    container gets the file through `sh` in pieces (the test files are small)."""
    import base64
    import io
    import tarfile

    container.reload()
    target = f"{folder}/{path.name}"
    if not container.attrs["HostConfig"].get("ReadonlyRootfs"):
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(path, arcname=path.name)
        container.put_archive(folder, archive.getvalue())
        return target
    encoded = base64.b64encode(path.read_bytes()).decode()
    container.exec_run(["sh", "-c", f": > {target}"])
    for start in range(0, len(encoded), 64_000):
        result = container.exec_run(["sh", "-c", f"printf %s '{encoded[start:start + 64_000]}' | base64 -d >> {target}"])
        assert result.exit_code == 0, result.output
    return target


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterContainer:
    """A labstack image running its default command on a loopback port, with a token."""

    image: str
    environment: dict[str, str] = field(default_factory=dict)
    tmpfs: dict[str, str] | None = None  # e.g. an empty home, as a fresh JupyterHub volume
    volumes: dict[str, dict[str, str]] | None = None
    user: str | None = None
    run_options: dict[str, Any] = field(default_factory=dict)  # more of docker run's: mem_limit, group_add...
    # On Docker's bridge, as a hub user's container is, not on this machine's network: the ports its
    # apps take (their defaults: 8050, 7860…) are its own, whatever else runs here.
    own_network: bool = False
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_loopback_port)  # the published one, on an engine elsewhere
    host: str = field(default_factory=published_address)
    listen_port: int = field(init=False, default=0)  # Jupyter's own, inside the container; set by start()
    tracked: TestContainer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout: float = 120) -> "JupyterContainer":
        options: dict[str, Any] = {"volumes": self.volumes or {}, "tmpfs": self.tmpfs or {}}
        local = engine_is_local() and not self.own_network
        self.listen_port = self.port if local else 8888
        if local:
            env = {"JUPYTER_TOKEN": self.token, "JUPYTER_IP": "127.0.0.1", "JUPYTER_PORT": str(self.port)}
        else:  # the container's own address, behind the token; its port published on the engine's machine
            env = {"JUPYTER_TOKEN": self.token, "JUPYTER_IP": "0.0.0.0", "JUPYTER_PORT": "8888"}
            options.update(network_mode="bridge", ports={"8888/tcp": (self.host, None)})
        env.update(self.environment)
        if self.user:
            options["user"] = self.user
        options.update(self.run_options)
        self.tracked = TestContainer(self.image, environment=env,
                                        name=f"labstack-smoke-{uuid.uuid4().hex[:8]}", **options)
        self.tracked.run_detached()
        if not local:
            self.tracked.container.reload()
            self.port = int(self.tracked.container.ports["8888/tcp"][0]["HostPort"])
        self.wait_until_ready(ready_timeout)
        return self

    def wait_until_ready(self, timeout: float) -> None:
        def ready():
            if self.tracked.status() == "exited":
                raise AssertionError(f"container exited:\n{self.tracked.logs()[-3000:]}")
            return answers(f"{self.base_url}/api", timeout=2)

        poll_until(ready, timeout, 0.25,
                   lambda: f"Jupyter not ready after {timeout}s:\n{self.tracked.logs()[-3000:]}")

    def free_port(self, preferred: int | None = None) -> int:
        """A loopback port free where the container's apps listen (this machine's loopback with host
        networking, the container's own on a bridge): `preferred` if free, as a person would pick."""
        script = ("import socket\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', %d))\n"
                  "except OSError:\n    s.bind(('127.0.0.1', 0))\nprint(s.getsockname()[1])" % (preferred or 0))
        return int(self.exec(["python3", "-c", script]).strip())

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, token: bool = True, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {self.token}"
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return requests.get(self.url(path), headers=headers, **kwargs)

    def wait_for(self, path: str, timeout: float = 120, status: int = 200,
                 interval: float = 1) -> requests.Response:
        """GET path with the token (following redirects) until it answers `status`; bounded."""
        last: list[Any] = [None]

        def check():
            last[0] = answers(self.url(path), ok=lambda r: True, allow_redirects=True,
                              headers={"Authorization": f"token {self.token}"})
            return last[0] if last[0] is not None and last[0].status_code == status else None

        return poll_until(check, timeout, interval, lambda: (
            f"{path} did not answer {status} in {timeout}s (last: {getattr(last[0], 'status_code', None)})\n"
            f"{self.tracked.logs()[-3000:]}"))

    def websocket_status(self, path: str, token: bool = True) -> int:
        """Try a websocket upgrade at path; the HTTP status: 101 if it upgraded."""
        import websocket  # websocket-client

        headers = [f"Authorization: token {self.token}"] if token else []
        url = f"ws://{self.host}:{self.port}/{path.lstrip('/')}"
        try:
            ws = websocket.create_connection(url, header=headers, timeout=20)
        except websocket.WebSocketBadStatusException as error:
            return error.status_code
        ws.close()
        return 101

    def exec(self, cmd: list[str], **kwargs: Any) -> str:
        return self.tracked.exec(cmd, **kwargs)

    def put_file(self, path, folder: str = "/tmp") -> str:
        """Copy a host file into the container's folder; its path there."""
        return copy_into(self.tracked.container, path, folder)

    def stop(self) -> None:
        if self.tracked:
            self.tracked.remove()

    def __enter__(self) -> "JupyterContainer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


