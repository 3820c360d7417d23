"""Real services the end-to-end tests run on loopback: a container registry and JupyterHub."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_container import answers, free_loopback_port, poll_until


def require(program: str, install: str) -> str:
    """The program's path; a skip that says how to install it, or a failure where CI requires it."""
    path = shutil.which(program) or next((p for p in (f"/usr/bin/{program}", f"/usr/sbin/{program}")
                                          if os.access(p, os.X_OK)), None)
    if path:
        return path
    message = f"{program} is not installed ({install})"
    if os.environ.get("LABSTACK_REQUIRE_E2E") == "1":
        pytest.fail(message)
    pytest.skip(message)


def wait_for_url(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def check():
        if process.poll() is not None:
            raise AssertionError(f"{url}: the server exited:\n{log.read_text()[-3000:]}")
        return answers(url, ok=lambda r: r.status_code < 500, timeout=2)

    poll_until(check, timeout, 0.25, lambda: f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


class Service:
    """A subprocess with its log, stopped (then killed) on exit."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict | None = None):
        self.log = cwd / "service.log"
        self.process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_registry(workdir: Path) -> tuple[Service, str]:
    binary = require("docker-registry", "apt-get install docker-registry")
    port = free_loopback_port()
    config = workdir / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    service = Service([binary, "serve", str(config)], workdir)
    wait_for_url(f"http://127.0.0.1:{port}/v2/", service.process, service.log)
    return service, f"127.0.0.1:{port}"
