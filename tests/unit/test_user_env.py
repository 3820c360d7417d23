"""labstack-env's package lists (images/base/runtime/usr/local/bin/labstack-env): what a former Python or
R left behind in a home, read from files. Its environments themselves are tested in real containers
(images/base/tests/test_own_python.py,
images/rstudio/tests/test_upgrade.py)."""
import importlib.machinery
import importlib.util

import pytest

from labstack import REPO_ROOT

SCRIPT = REPO_ROOT / "images" / "base" / "runtime" / "usr" / "local" / "bin" / "labstack-env"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    loader = importlib.machinery.SourceFileLoader("labstack_env", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("labstack_env", loader))
    loader.exec_module(module)
    module.IMAGE_PYTHON = tmp_path / "image" / "bin" / "python3"
    module.R_HOMES = (str(tmp_path / "R-home"),)
    return module


def dist(site, name, version, requested=False):
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if requested:
        (info / "REQUESTED").write_text("")


def r_package(library, name, version):
    (library / name).mkdir(parents=True)
    (library / name / "DESCRIPTION").write_text(f"Package: {name}\nVersion: {version}\nBuilt: R 4.2.2; ; unix\n")


def test_distributions_reads_names_versions_and_what_pip_was_asked_for(env, tmp_path):
    site = tmp_path / "site"
    dist(site, "Tabulate", "0.9.0", requested=True)
    dist(site, "python-dateutil", "2.9.0")
    (site / "broken-1.0.dist-info").mkdir()  # no METADATA: a killed install
    assert env.distributions(site) == {
        "tabulate": {"name": "Tabulate", "version": "0.9.0", "requested": True},
        "python-dateutil": {"name": "python-dateutil", "version": "2.9.0", "requested": False}}
    assert env.distributions(tmp_path / "nowhere") == {}


def test_left_behind_is_what_was_asked_for_and_is_not_there_at_that_version(env):
    former = {"mlflow": {"name": "mlflow", "version": "3.17.2", "requested": True},
              "tabulate": {"name": "tabulate", "version": "0.9.0", "requested": True},
              "python-dateutil": {"name": "python-dateutil", "version": "2.9.0", "requested": False}}
    present = {"tabulate": {"name": "tabulate", "version": "0.9.0", "requested": True},
               "python-dateutil": {"name": "python-dateutil", "version": "4.0.0", "requested": False}}
    # the dependency is pip's to pick again against what is present now: only mlflow is left
    assert [d["name"] for d in env.left_behind(former, present)] == ["mlflow"]
    # nothing was asked for by name (an environment pip did not make): all of it counts
    unasked = {key: {**value, "requested": False} for key, value in former.items()}
    assert [d["name"] for d in env.left_behind(unasked, present)] == ["mlflow", "python-dateutil"]


def test_former_pythons_are_other_versions_environments_and_user_sites(env, tmp_path):
    for made_for in ("3.11", "3.13"):
        venv = env.ENVS / f"python{made_for}"
        venv.mkdir(parents=True)
        (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {made_for}.2\n")
    (tmp_path / ".local" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (tmp_path / ".local" / "lib" / "python3.13" / "site-packages").mkdir(parents=True)
    assert env.former_pythons("3.13") == [
        ("3.11", env.ENVS / "python3.11" / "lib" / "python3.11" / "site-packages"),
        ("3.11", tmp_path / ".local" / "lib" / "python3.11" / "site-packages")]


def test_an_upgrade_is_noted_for_python_and_r_until_rebuilt(env, tmp_path):
    old = tmp_path / ".local" / "lib" / "python3.11" / "site-packages"
    dist(old, "tabulate", "0.9.0", requested=True)
    (tmp_path / "R-home" / "library" / "base").mkdir(parents=True)
    (tmp_path / "R-home" / "library" / "base" / "DESCRIPTION").write_text("Package: base\nVersion: 4.5.0\n")
    r_package(tmp_path / "R" / "x86_64-pc-linux-gnu-library" / "4.2", "labstackr", "1.0")
    r_package(tmp_path / "R-home" / "site-library", "jsonlite", "1.8")
    r_package(tmp_path / "R" / "x86_64-pc-linux-gnu-library" / "4.2", "jsonlite", "1.8")  # the image has it
    venv = env.ENVS / "python3.13"
    notes = dict(env.upgrade_notes("3.13", venv))
    assert len(notes) == 2, notes
    python, r = notes.values()
    assert python.startswith("1 Python package installed for 3.11") and "tabulate" in python and python.endswith(
        "run `labstack-env rebuild`"), python
    assert r.startswith("1 R package installed for R 4.2") and "labstackr" in r and "jsonlite" not in r, r
    for key in notes:
        env.remember(f"rebuilt:{key}")
    assert env.upgrade_notes("3.13", venv) == []


def test_the_versions_come_from_files(env, tmp_path):
    assert env.r_version() is None
    (tmp_path / "R-home" / "library" / "base").mkdir(parents=True)
    (tmp_path / "R-home" / "library" / "base" / "DESCRIPTION").write_text("Package: base\nVersion: 4.2.2\n")
    assert env.r_version() == "4.2"
    venv = tmp_path / "v"
    venv.mkdir()
    assert env.env_version(venv) is None
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n")
    assert env.env_version(venv) == "3.11"


@pytest.mark.parametrize("args, code", [([], 2), (["new"], 2), (["new", "../x"], 2), (["status", "x"], 2),
                                         (["frobnicate"], 2), (["--help"], 0)])
def test_bad_input_is_one_line_and_exit_2(env, args, code, capsys):
    assert env.main(args) == code
    if code == 2:
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_failed_install_says_why_before_what(env):
    import subprocess

    said = ("Looking in links: /w\nERROR: Ignored the following versions that require a different python version: "
            "1.0 Requires-Python <3.12\nERROR: Could not find a version that satisfies the requirement x==1.0 "
            "(from versions: none)\nERROR: No matching distribution found for x==1.0\n")
    why = env.last_error(subprocess.CompletedProcess([], 1, stdout="", stderr=said))
    assert why.startswith("Ignored the following versions that require a different python version: 1.0 Requires-Python <3.12; ")
    assert why.endswith("No matching distribution found for x==1.0")
    assert env.last_error(subprocess.CompletedProcess([], 3, stdout="", stderr="")) == "exit 3"
