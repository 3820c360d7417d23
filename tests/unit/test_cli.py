"""build.py's answers to bad input: one line on stderr, exit 2, before any engine is contacted."""
import subprocess
import sys

import pytest

from labstack import REPO_ROOT


def run(*args, env_extra=None):
    import os

    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock", **(env_extra or {}))
    return subprocess.run([sys.executable, str(REPO_ROOT / "build.py"), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("list", "build", "test", "bootstrap"):
        assert command in result.stdout


def test_list_prints_graph():
    result = run("list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PARENT", "TAGS"]
    assert any(line.split()[:2] == ["base", "(base"] for line in lines)


@pytest.mark.parametrize("args, message", [
    (["build", "nope"], "unknown image 'nope'"),
    (["build", "base+nope"], "unknown image 'nope'"),
    (["build", "base", "--ca-bundle", "/nonexistent/ca.pem"], "cannot read CA bundle"),
    (["build", "base", "--ca-bundle", str(REPO_ROOT / "pytest.ini")], "holds no PEM certificate"),
    (["build", "base", "--tag", "bad:tag"], "bad tag"),
    (["test", "nope"], "unknown image 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_no_engine_is_a_clear_error():
    result = run("build", "base")
    assert result.returncode == 2
    assert "no Docker Engine answers" in result.stderr


def test_rstudio_flags_contradicting_are_rejected(tmp_path):
    deb = tmp_path / "rstudio.deb"
    deb.write_bytes(b"not a deb")
    result = run("build", "rstudio", "--without-rstudio", "--rstudio-deb", str(deb))
    assert result.returncode == 2 and "contradict" in result.stderr


def test_rstudio_deb_must_be_a_package(tmp_path):
    deb = tmp_path / "rstudio.deb"
    deb.write_bytes(b"not a deb")
    result = run("build", "rstudio", "--rstudio-deb", str(deb))
    assert result.returncode == 2 and "not a readable .deb" in result.stderr
    result = run("build", "rstudio", "--rstudio-deb", str(tmp_path / "missing.deb"))
    assert result.returncode == 2 and "no such file" in result.stderr
