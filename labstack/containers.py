"""Containers labstack starts for its own work (migration probes, `build.py run`): named up front,
labelled, always removed.

TrackedContainer follows jupyter/docker-stacks' helper of that name: run detached, exec with a timeout,
always remove, even when `run` fails or is interrupted between creating and starting the container.
"""
from __future__ import annotations

import os
import uuid
from typing import Any

import docker.errors

from .engine import client

# Every container we start carries this label, so `make clean` and test teardown can find strays;
# its value tells test runs apart (LABSTACK_SMOKE_SESSION), e.g. for the interruption tests.
LABEL = "io.labstack.smoke"


def session_label() -> dict[str, str]:
    return {LABEL: os.environ.get("LABSTACK_SMOKE_SESSION", "1")}


class TrackedContainer:
    def __init__(self, image: str, **run_kwargs: Any):
        self.image = image
        self.run_kwargs = run_kwargs
        self.container = None
        # Named before it exists, so it can be found and removed even when `run` fails or is
        # interrupted between creating and starting it (the SDK leaves such a container behind).
        self.name = run_kwargs.pop("name", None) or f"labstack-{uuid.uuid4().hex[:12]}"

    def run_detached(self, **overrides: Any):
        kwargs = {"network_mode": "host", "detach": True, "labels": session_label(), "name": self.name}
        kwargs.update(self.run_kwargs)
        kwargs.update(overrides)
        try:
            self.container = client().containers.run(self.image, **kwargs)
        except BaseException:
            self.remove()
            raise
        return self.container

    def exec(self, cmd: list[str], timeout: int = 60, user: str | None = None,
             check: bool = True) -> str:
        """Run cmd in the container, killed after `timeout` seconds by coreutils' timeout."""
        assert self.container is not None
        kwargs = {"user": user} if user else {}
        result = self.container.exec_run(["timeout", str(timeout), *cmd], demux=False, **kwargs)
        output = result.output.decode(errors="replace")
        if check and result.exit_code != 0:
            raise AssertionError(f"{cmd} exited {result.exit_code}: {output[-2000:]}")
        return output

    def logs(self) -> str:
        assert self.container is not None
        return self.container.logs().decode(errors="replace")

    def status(self) -> str:
        assert self.container is not None
        self.container.reload()
        return self.container.status

    def remove(self) -> None:
        try:
            container = self.container or client().containers.get(self.name)
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        self.container = None

    def __enter__(self) -> "TrackedContainer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def session_filter() -> str:
    """The label filter for this run's containers and volumes: this run's alone where LABSTACK_SMOKE_SESSION
    names it (two test runs on one engine), else every one labstack made."""
    session = os.environ.get("LABSTACK_SMOKE_SESSION")
    return f"{LABEL}={session}" if session else LABEL


def remove_stray_containers(label: str = LABEL, prefix: str = "") -> int:
    """Remove every container labstack started (`make clean`), or those with this label filter (a test
    run's), and of those only the ones named `prefix-...` where a prefix is given (one test's own).
    Then the networks a hub made for its users' servers with the same labels (labstack.user_networks),
    which no container uses any more."""
    strays = [container for container in client().containers.list(all=True, filters={"label": label})
              if not prefix or container.name.startswith(f"{prefix}-")]
    for container in strays:
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
    for network in client().networks.list(filters={"label": label}):
        if not prefix or network.name.startswith(f"{prefix}-"):
            try:
                network.remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:  # still in use: another run's hub, or a container not labelled
                pass
    return len(strays)
