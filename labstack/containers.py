"""Containers labstack starts for its own work (`build.py run`, migration probes, measuring versions,
resolving the lock): named up front, labelled with what they are for, always removed.

TrackedContainer follows jupyter/docker-stacks' helper of that name: run detached, exec with a timeout,
always remove, even when `run` fails or is interrupted between creating and starting the container.
"""
from __future__ import annotations

import uuid
from typing import Any

import docker.errors

from .engine import client

# Every container labstack starts carries this label, its value what it is for (run, migrate, measure,
# lock), so `make clean` finds the ones left behind. The tests' own containers carry TEST_LABEL instead
# (tests/support/tracked.py), whose value tells test runs apart (LABSTACK_SMOKE_SESSION).
PURPOSE_LABEL = "io.labstack.container"
TEST_LABEL = "io.labstack.smoke"


def labels_for(purpose: str) -> dict[str, str]:
    return {PURPOSE_LABEL: purpose}


class TrackedContainer:
    def __init__(self, image: str, purpose: str = "", **run_kwargs: Any):
        self.image = image
        if purpose:
            run_kwargs.setdefault("labels", labels_for(purpose))
        if "labels" not in run_kwargs:
            raise ValueError("a tracked container says what it is for: purpose=..., or labels=...")
        self.run_kwargs = run_kwargs
        self.container = None
        # Named before it exists, so it can be found and removed even when `run` fails or is
        # interrupted between creating and starting it (the SDK leaves such a container behind).
        self.name = run_kwargs.pop("name", None) or f"labstack-{uuid.uuid4().hex[:12]}"

    def run_detached(self, **overrides: Any):
        kwargs = {"network_mode": "host", "detach": True, "name": self.name}
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


def remove_stray_containers(label: str = PURPOSE_LABEL, prefix: str = "") -> int:
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
