"""The second engine the bake, remote-engine and repo2docker tests build on: Docker 26 with buildx 0.13,
started beside the host's by scripts/start-engine26, which writes how to reach it into an env file.

These tests treat it as another machine: they reach it only through DOCKER_HOST and the docker CLI
(buildx as its plugin), and its containers' published ports at its own address."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import docker
import docker.errors
import pytest

from labstack import REPO_ROOT
from labstack.graph import images_dir, load_graph
from labstack.testing.plan import default_specs
from beside import Beside

ENV_FILE = Path(os.environ.get("LABSTACK_ENGINE26_DIR", "/run/labstack-engine26")) / "env"
# bake's base: no registry answers here, so the debootstrapped trixie (the default), made on that engine
BASE_IMAGE = "labstack/debian:trixie-debootstrap"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # this host's, handed to builds as the ca_bundle secret


MISSING = f"no Docker 26 engine answers ({ENV_FILE} is missing): start one with scripts/start-engine26"


def engine26_env() -> dict[str, str]:
    """This process's environment pointed at the Docker 26 engine; a skip (a failure where CI requires
    it) when none was started."""
    if not ENV_FILE.is_file():
        if os.environ.get("LABSTACK_REQUIRE_E2E") == "1":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return pointed_env()


def pointed_env() -> dict[str, str]:
    env = dict(os.environ, **dict(re.findall(r"^export (\w+)=(\S+)$", ENV_FILE.read_text(), re.M)))
    # The host engine's habit (--network host for RUN steps, labstack's default) is not the other
    # machine's: its builds use its default bridge, as bake's (which has no network key in buildx 0.13) do.
    env["LABSTACK_NETWORK"] = "default"
    env.pop("DOCKER_CONTEXT", None)
    return env


def engine26_client(env: dict[str, str]) -> docker.DockerClient:
    return docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=600)


_RUNNING: set[subprocess.Popen] = set()  # what BakeBeside.stop() ends, should the session end first


def run(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path = REPO_ROOT,
        out: TextIO | None = None) -> subprocess.CompletedProcess:
    """A command against that engine; its output also goes to `out` (this test's stderr) as it comes,
    since builds take minutes."""
    out = out or sys.stderr
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")
    _RUNNING.add(process)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            out.write(line)
        process.wait(timeout=timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        _RUNNING.discard(process)
    return subprocess.CompletedProcess(cmd, process.returncode, "".join(lines), "")


def docker_cli() -> str:
    """A docker client: Debian's, or any on PATH; buildx comes from the engine's DOCKER_CONFIG."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"


# The graph's images, as `build.py test all` builds them; rstudio without RStudio Server, which is in no
# registry reachable here.
SPECS = default_specs(load_graph(images_dir()))


def build_py(*args: str, env: dict, timeout: float = 3600, out: TextIO | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, str(REPO_ROOT / "build.py"), *args], env, timeout, out=out)


def ensure_base_image(env: dict, out: TextIO | None = None) -> None:
    """The trixie base on that engine, made there as on any machine without a registry."""
    try:
        engine26_client(env).images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        made = build_py("bootstrap", env=env, timeout=900, out=out)
        assert made.returncode == 0, made.stdout[-2000:]


BAKE_TAG = "bake"
BAKE_TIMEOUT = 5400


def bake(env: dict, tag: str, folder: Path, out: TextIO | None = None) -> tuple[dict[str, str], float]:
    """`build.py bake` of the whole graph, built by `docker buildx bake`: ({spec: ref}, seconds of the bake)."""
    import json
    import time

    bake_file = folder / "labstack.bake.json"
    written = build_py("bake", *SPECS, "--tag", tag, "--without-rstudio", "--base-image", BASE_IMAGE,
                       "-o", str(bake_file), env=env, out=out)
    assert written.returncode == 0, written.stdout[-2000:]
    started = time.monotonic()
    result = run([docker_cli(), "buildx", "bake", "--progress", "plain", "-f", str(bake_file)], env, BAKE_TIMEOUT,
                 out=out)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:]
    labelled = build_py("label", *SPECS, "--tag", tag, env=env, out=out)  # the versions, measured as `build` does
    assert labelled.returncode == 0, labelled.stdout[-2000:]
    targets = json.loads(bake_file.read_text())["target"]
    return {spec: targets[spec.replace("+", "-")]["tags"][0] for spec in SPECS}, seconds


class BakeBeside(Beside):
    """The bake of the whole graph, built on the second engine while the host's modules run: it takes ten
    minutes of CPU the host's tests mostly leave idle (browsers and hubs wait), and the second engine
    yields the CPU to the host's work (scripts/start-engine26). Nothing it does touches the host engine
    or its network: its builds and containers are inside the second engine's."""

    def __init__(self, tag: str = BAKE_TAG):
        self.folder = Path(tempfile.mkdtemp(prefix="labstack-bake-beside-"))
        self.log = self.folder / "bake.log"
        super().__init__("the bake", lambda: self._bake(tag))

    def _bake(self, tag: str) -> tuple[dict[str, str], float]:
        with open(self.log, "w") as out:
            env = pointed_env()
            ensure_base_image(env, out)
            return bake(env, tag, self.folder, out)

    def result(self, timeout: float = BAKE_TIMEOUT) -> tuple[dict[str, str], float]:
        try:
            return super().result(timeout)
        finally:
            sys.stderr.write(self.log.read_text(errors="replace") if self.log.is_file() else "")

    def stop(self) -> None:
        for process in list(_RUNNING):
            process.kill()
        super().stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def write_user_repo(repo: Path) -> Path:
    """A user's repository as Binder sees them: a notebook, requirements.txt, apt.txt with a comment."""
    import json

    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "probe", "metadata": {},
                           "outputs": [], "source": ["from tabulate import tabulate\n", "print(tabulate([[1, 2]]))"]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    repo.mkdir(parents=True)
    (repo / "analysis.ipynb").write_text(json.dumps(notebook))
    (repo / "requirements.txt").write_text("tabulate==0.9.0\n")
    (repo / "apt.txt").write_text("# the banner of the talk\nfiglet\n")
    return repo


def repo2docker_build(env: dict, repo: Path, image_name: str, folder: Path,
                      ca_bundle: str = CA_BUNDLE) -> subprocess.CompletedProcess:
    """The real repo2docker builds repo (its binder/Dockerfile) as BinderHub asks it: user jovyan, uid 1000
    (run as root, repo2docker would take uid 0 and refuse). Behind a TLS-intercepting proxy the RUN steps
    need the CA bundle: a BuildKit secret, handed to its `docker buildx build` through its configuration."""

    repo2docker = shutil.which("jupyter-repo2docker")
    assert repo2docker, "jupyter-repo2docker is not installed (pip install -r requirements-dev.txt)"
    config = folder / "repo2docker_config.py"
    config.write_text(f"c.DockerEngine.extra_buildx_build_args = ['--secret', 'id=ca_bundle,src={ca_bundle}']\n"
                      if os.path.isfile(ca_bundle) else "")
    return run([repo2docker, "--no-run", "--user-id", "1000", "--user-name", "jovyan", "--image-name", image_name,
                "--config", str(config), str(repo)], env, 1800)
