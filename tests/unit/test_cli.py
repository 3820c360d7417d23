"""build.py's answers to bad input: one line on stderr, exit 2, before any engine is contacted."""
import pytest

from labstack import REPO_ROOT


def test_help_lists_the_commands(build_py):
    result = build_py("--help")
    assert result.returncode == 0
    for command in ("list", "build", "test", "bootstrap"):
        assert command in result.stdout


def test_list_prints_graph(build_py):
    result = build_py("list")
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
    (["test", "base", "--lanes", "0"], "--lanes 0: a whole number of 1 or more"),
    (["push", "base"], "push needs a registry"),
    (["build", "base", "--no-cache-layer", "nope"], "unknown image 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(build_py, args, message):
    result = build_py(*args)
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_no_engine_is_a_clear_error(build_py):
    result = build_py("build", "base")
    assert result.returncode == 2
    assert "no Docker Engine answers" in result.stderr


def test_rstudio_flags_contradicting_are_rejected(build_py, tmp_path):
    deb = tmp_path / "rstudio.deb"
    deb.write_bytes(b"not a deb")
    result = build_py("build", "rstudio", "--without-rstudio", "--rstudio-deb", str(deb))
    assert result.returncode == 2 and "contradict" in result.stderr


def test_explicit_rstudio_deb_wins_over_environment_default(build_py, tmp_path):
    deb = tmp_path / "rstudio.deb"
    deb.write_bytes(b"not a deb")
    result = build_py("build", "rstudio", "--rstudio-deb", str(deb), env_extra={"LABSTACK_WITHOUT_RSTUDIO": "1"})
    assert result.returncode == 2 and "not a readable .deb" in result.stderr  # got past the flags


def test_rstudio_deb_must_be_a_package(build_py, tmp_path):
    deb = tmp_path / "rstudio.deb"
    deb.write_bytes(b"not a deb")
    result = build_py("build", "rstudio", "--rstudio-deb", str(deb))
    assert result.returncode == 2 and "not a readable .deb" in result.stderr
    result = build_py("build", "rstudio", "--rstudio-deb", str(tmp_path / "missing.deb"))
    assert result.returncode == 2 and "no such file" in result.stderr
