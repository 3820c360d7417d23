"""Interrupted runs leave nothing behind: no container from a test, no tag from a build."""
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import docker.errors
import pytest

from labstack import REPO_ROOT
from labstack.engine import image_exists
from tracked import LABEL, TestContainer
from jupyter_container import poll_until
from probes import default_sigint


def interrupt(cmd, ready, env=None, timeout=180):
    """Start cmd, send SIGINT to its group (as Ctrl-C does) once ready(output) holds; (exit code, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "output.log"
        with log.open("w") as sink:
            # A run started in the background or under nohup has SIGINT ignored, and its children
            # inherit that: give the child Ctrl-C's default handling back, or the interrupt does nothing.
            process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=default_sigint)
        try:
            poll_until(lambda: ready(log.read_text()), timeout, 0.5,
                       lambda: f"{cmd} never got to the point of interruption:\n{log.read_text()[-2000:]}")
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        return process.returncode, log.read_text()


def test_interrupted_test_run_removes_its_container(engine, image):
    # given the image, the run builds nothing: a build of the same name, even from the cache, points
    # the tag at the image before it is labelled for a moment, which a lane beside reads
    base = image("base")
    session = uuid.uuid4().hex
    label = {"label": f"{LABEL}={session}"}
    code, output = interrupt(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "images/base/tests/test_base.py",
         "-k", "test_api_answers", "--image", f"base={base}"],
        # sparse: no inspect of each one, which raises NotFound for a container removed meanwhile (CI, once)
        lambda _: engine.containers.list(all=True, filters=label, sparse=True),
        env=dict(os.environ, LABSTACK_SMOKE_SESSION=session))
    assert code != 0, output[-2000:]
    assert engine.containers.list(all=True, filters=label, sparse=True) == [], output[-2000:]


def test_interrupted_build_tags_nothing(image):
    image("base")  # the cache is warm for everything but what --no-cache rebuilds
    tag = f"interrupted-{uuid.uuid4().hex[:6]}"
    code, output = interrupt(
        [sys.executable, "build.py", "build", "base", "--no-cache", "--tag", tag, "--network", "host"],
        lambda text: "labstack/apt-install" in text)  # base's first networked step has begun
    assert code == 130, output[-2000:]
    assert "build.py: interrupted" in output
    assert not image_exists(f"labstack/base:{tag}")


def test_failed_start_leaves_no_container(engine, image):
    # The docker SDK creates, then starts; when the start fails it leaves the created container behind.
    tracked = TestContainer(image("base"), entrypoint=["/nonexistent"], network_mode="none")
    with pytest.raises(docker.errors.APIError):
        tracked.run_detached()
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(tracked.name)
