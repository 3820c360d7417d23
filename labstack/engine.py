"""Access to the Docker Engine: the docker SDK for images and containers, a BuildKit client for builds.

Builds go through the CLI because the SDK cannot drive BuildKit (secrets, RUN --mount). Which client:
one with buildx where present; otherwise a client that still has BuildKit built in (Docker < 23, such
as Debian's docker.io) with DOCKER_BUILDKIT=1. A newer client without buildx cannot use BuildKit.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import docker
import docker.errors

from . import LabstackError

Log = Callable[[str], None]


@lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """The engine the docker CLI would use: DOCKER_HOST, else the current docker context (DOCKER_CONTEXT
    or the config's currentContext, which the SDK alone does not follow), else the local socket."""
    try:
        context = _current_context()
        if context is not None:
            engine = docker.DockerClient(base_url=context[0], tls=context[1], timeout=600)
        else:
            engine = docker.from_env(timeout=600)
        engine.ping()
    except docker.errors.DockerException as error:
        raise LabstackError(
            f"no Docker Engine answers ({_first_line(error)}): start one with scripts/start-dockerd"
        ) from None
    return engine


def _current_context() -> tuple[str, object] | None:
    """(host, TLS settings) of the docker context in use when DOCKER_HOST does not say; None for the
    default one. Read as the CLI stores contexts (docker-py's own reader misses them when DOCKER_CONFIG
    holds no config.json)."""
    if os.environ.get("DOCKER_HOST"):
        return None
    import hashlib
    import json

    folder = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    config = folder / "config.json"
    name = os.environ.get("DOCKER_CONTEXT") or (
        json.loads(config.read_text()).get("currentContext") if config.is_file() else None) or "default"
    if name == "default":
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = folder / "contexts" / "meta" / digest / "meta.json"
    if not meta.is_file():
        raise LabstackError(f"docker context {name!r} does not exist (docker context ls)")
    endpoint = json.loads(meta.read_text())["Endpoints"]["docker"]
    tls_files = folder / "contexts" / "tls" / digest / "docker"
    tls: object = False
    if (tls_files / "cert.pem").is_file():
        from docker.tls import TLSConfig

        ca = tls_files / "ca.pem"
        tls = TLSConfig(client_cert=(str(tls_files / "cert.pem"), str(tls_files / "key.pem")),
                        ca_cert=str(ca) if ca.is_file() else None, verify=not endpoint.get("SkipTLSVerify"))
    return endpoint["Host"], tls


def engine_host() -> str:
    """The engine's address as the CLI is given it: DOCKER_HOST, the current context's, or the local socket."""
    context = _current_context()
    return os.environ.get("DOCKER_HOST") or (context[0] if context else "unix:///var/run/docker.sock")


def published_address() -> str:
    """Where this machine reaches the ports the engine's containers publish: LABSTACK_ENGINE_ADDRESS when
    set (an engine behind a socket whose machine has another address), the host of a tcp:// or ssh://
    engine, else this machine's loopback (the engine is local)."""
    if os.environ.get("LABSTACK_ENGINE_ADDRESS"):
        return os.environ["LABSTACK_ENGINE_ADDRESS"]
    url = urlsplit(engine_host())
    return url.hostname if url.scheme in ("tcp", "ssh", "http", "https") and url.hostname else "127.0.0.1"


def engine_is_local() -> bool:
    """True when the engine's containers can share this machine's network (host networking reaches us)."""
    return published_address() in ("127.0.0.1", "localhost", "::1")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def image_exists(ref: str) -> bool:
    try:
        client().images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_labels(ref: str) -> dict[str, str]:
    return client().images.get(ref).labels or {}


def push(ref: str, log: Log) -> None:
    """Push one tag, failing with the registry's own message."""
    if not image_exists(ref):
        raise LabstackError(f"no image {ref} here: build it first with the same --registry, --owner and --tag")
    repository, _, tag = ref.rpartition(":")
    log(f"labstack: pushing {ref}")
    try:
        for event in client().api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise LabstackError(f"pushing {ref} failed: {event['error']}")
    except docker.errors.APIError as error:
        raise LabstackError(f"pushing {ref} failed: {_first_line(error)}") from None


def repo_digest(ref: str) -> str | None:
    """repository@sha256:... for ref when this engine knows its registry digest (it was pushed or pulled),
    else None; no engine answering counts as not known."""
    repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    try:
        digests = client().images.get(ref).attrs.get("RepoDigests") or []
    except (docker.errors.ImageNotFound, LabstackError):
        return None
    return next((d for d in digests if d.split("@", 1)[0] == repository), None)


def remove_image(ref: str) -> None:
    try:
        client().images.remove(ref, noprune=False)
    except docker.errors.ImageNotFound:
        pass


@dataclass(frozen=True)
class BuildClient:
    path: str
    uses_buildx: bool

    def command(self) -> list[str]:
        return [self.path, "buildx", "build", "--load"] if self.uses_buildx else [self.path, "build"]


def _docker_clients() -> list[str]:
    override = os.environ.get("LABSTACK_DOCKER")
    if override:
        return [override]
    found = []
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        candidate = os.path.join(folder, "docker")
        if os.access(candidate, os.X_OK) and os.path.realpath(candidate) not in map(os.path.realpath, found):
            found.append(candidate)
    return found


def _client_major_version(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"version (\d+)\.", out)
    return int(match.group(1)) if match else None


@lru_cache(maxsize=1)
def build_client() -> BuildClient:
    clients = _docker_clients()
    for path in clients:
        try:
            probe = subprocess.run([path, "buildx", "version"], capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return BuildClient(path, uses_buildx=True)
    for path in clients:
        major = _client_major_version(path)
        if major is not None and major < 23:
            return BuildClient(path, uses_buildx=False)
    raise LabstackError(
        "no docker client here can build with BuildKit: install docker-buildx, or Debian's docker.io "
        "(its client has BuildKit built in), or point LABSTACK_DOCKER at one"
    )


@dataclass
class BuildRequest:
    dockerfile: Path
    context: Path
    tags: list[str]
    build_args: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None
    network: str | None = None
    no_cache: bool = False
    platform: str | None = None
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    name: str = ""  # what messages call the build, when its tag is a temporary one

    def called(self) -> str:
        return self.name or self.tags[0]


_RUNNING_BUILDS: set[subprocess.Popen] = set()  # the builds of this process, for cancel_builds()
_CANCELLED = threading.Event()


def cancel_builds() -> None:
    """Cancel every build this process runs, and any it would start after (as Ctrl-C does): builds run
    in other threads too (testing.plan.build_in_waves)."""
    _CANCELLED.set()
    for process in list(_RUNNING_BUILDS):
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def build(request: BuildRequest, log: Log) -> None:
    """Run one BuildKit build, streaming its progress; tags are only applied when it succeeds."""
    if _CANCELLED.is_set():
        raise BuildFailed(f"building {request.called()} cancelled")
    builder = build_client()
    cmd = builder.command() + ["--progress", "plain", "-f", str(request.dockerfile)]
    for tag in request.tags:
        cmd += ["-t", tag]
    for key, value in request.build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in request.labels.items():
        cmd += ["--label", f"{key}={value}"]
    if request.ca_bundle:
        cmd += ["--secret", f"id=ca_bundle,src={request.ca_bundle}"]
    if request.network:
        cmd += ["--network", request.network]
    if request.no_cache:
        cmd.append("--no-cache")
    if request.platform:
        cmd += ["--platform", request.platform]
    if request.target:
        cmd += ["--target", request.target]
    cmd.append(str(request.context))
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    process = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        start_new_session=True,  # we forward Ctrl-C ourselves, so the build is cancelled, not orphaned
    )
    tail: list[str] = []
    _RUNNING_BUILDS.add(process)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            log(line)
            tail = (tail + [line])[-300:]
        returncode = process.wait()
    except BaseException:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        _RUNNING_BUILDS.discard(process)
    if returncode != 0:
        raise BuildFailed(f"building {request.called()} failed: {_failure_reason(tail, returncode)}")


_STEP_OUTPUT = re.compile(r"^#\d+ \d+\.\d+ (.*)$")  # "#8 9.935 <what the RUN step printed>"


def _failure_reason(tail: list[str], returncode: int) -> str:
    """One line that says why a build failed, from the end of BuildKit's plain progress output."""
    output = [m.group(1).strip() for m in map(_STEP_OUTPUT.match, tail) if m]
    hint = ""
    # pip and npm, then uv (rustls: "invalid peer certificate: UnknownIssuer")
    if any(sign in line for line in output
           for sign in ("CERTIFICATE_VERIFY_FAILED", "SELF_SIGNED_CERT", "invalid peer certificate")):
        hint = " (TLS certificate rejected: behind an intercepting proxy, pass --ca-bundle)"
    # Our install scripts say what went wrong on a line "labstack-error: ..."; prefer that.
    for line in reversed(output):
        if line.startswith("labstack-error:"):
            return line.split(":", 1)[1].strip()
    for line in reversed(output):
        if re.search(r"\berror\b", line, re.IGNORECASE):
            return line + hint
    for line in reversed(tail):
        if "ERROR" in line:
            return line.strip() + hint
    return f"exit {returncode}{hint}"


class BuildFailed(LabstackError):
    pass

