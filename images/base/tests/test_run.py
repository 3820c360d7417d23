"""`make run` / `build.py run NAME`: the image on 127.0.0.1:PORT with a generated token, until Ctrl-C,
SIGTERM or SIGHUP, each of which removes the container and exits 0."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from labstack import REPO_ROOT
from jupyter_container import free_loopback_port, poll_until
from labstack.containers import PURPOSE_LABEL
from labstack.engine import remove_image
from probes import build_py, default_sigint

TAG = "run-test"


def run_containers(engine) -> set[str]:
    """build.py run's containers (labelled so): another test run may share this engine."""
    return {c.name for c in engine.containers.list(all=True, filters={"label": f"{PURPOSE_LABEL}=run"})}


def start_run(spec: str, port: int, log, **popen) -> subprocess.Popen:
    """`build.py run spec` on port, its stdout read by the test. The build's log goes to a file: a pipe
    nobody reads while the test waits for stdout fills (64 KB: one step that is not cached) and stops
    build.py before it prints the URLs."""
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "build.py"), "run", spec, "--port", str(port),
                             "--tag", TAG, "--network", "host"], stdout=subprocess.PIPE, stderr=log.open("w"),
                            text=True, **popen)


def printed_until(process, marker: str, seconds: float = 600) -> list[str]:
    """What it printed up to the line with marker (bounded: the URLs come after the build and the start)."""
    lines = []
    deadline = time.monotonic() + seconds
    for line in process.stdout:
        lines.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    return lines


def test_run_serves_vscode_with_a_generated_token_until_ctrl_c(engine, image, tmp_path):
    image("code-server")  # built (from cache) as the other tests build it
    port = free_loopback_port()
    # build.py run's containers (labelled so): another test run may share this engine
    before = run_containers(engine)
    log = tmp_path / "run.log"
    process = start_run("code-server", port, log, preexec_fn=default_sigint)
    try:
        text = "".join(printed_until(process, "vscode:"))
        match = re.search(rf"http://127\.0\.0\.1:{port}/vscode/\?token=([0-9a-f]{{48}})", text)
        assert match, text
        token = match.group(1)
        assert f"http://127.0.0.1:{port}/lab?token={token}" in text
        response = poll_until(lambda: _get(f"http://127.0.0.1:{port}/vscode/", token), 120, 1,
                              lambda: "VS Code did not answer")
        assert "vscode-workbench-web-configuration" in response.text
        assert requests.get(f"http://127.0.0.1:{port}/api/contents", timeout=10).status_code == 403
        started = run_containers(engine) - before
        assert len(started) == 1
        container = engine.containers.get(started.pop())
        bindings = container.attrs["NetworkSettings"]["Ports"]["8888/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()[-2000:]
        assert run_containers(engine) - before == set()
    finally:
        if process.poll() is None:
            process.kill()
        for name in ("base", "code-server"):
            remove_image(f"labstack/{name}:{TAG}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_run_removes_its_container_on_sigterm_and_sighup(engine, image, tmp_path, stop):
    """`kill`, a service manager (SIGTERM) and a closed terminal (SIGHUP) stop it as Ctrl-C does."""
    image("base")
    port = free_loopback_port()
    before = run_containers(engine)
    log = tmp_path / "run.log"
    process = start_run("base", port, log)
    try:
        lines = printed_until(process, "JupyterLab:")
        assert any("JupyterLab:" in line for line in lines), "".join(lines) + log.read_text()[-2000:]
        assert len(run_containers(engine) - before) == 1
        process.send_signal(stop)
        assert process.wait(timeout=60) == 0, log.read_text()[-2000:]
        assert f"({stop.name})" in log.read_text()
        assert run_containers(engine) - before == set()
    finally:
        if process.poll() is None:
            process.kill()
        remove_image(f"labstack/base:{TAG}")


def _get(url, token):
    try:
        response = requests.get(url, headers={"Authorization": f"token {token}"}, timeout=10)
    except requests.RequestException:
        return None
    return response if response.status_code == 200 else None


def test_run_refuses_a_taken_port(engine, image):
    image("code-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = build_py("run", "code-server", "--port", str(port), "--tag", TAG, "--network", "host",
                          env=dict(os.environ))
    for name in ("base", "code-server"):
        remove_image(f"labstack/{name}:{TAG}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr.strip().splitlines()[-1]
