"""The Jupyter environment's lock (images/base/install/jupyter-lock.txt) against the pins it was made from."""
import re

import pytest

from labstack import REPO_ROOT, LabstackError
from labstack import lock

LOCKED = lock.parse(lock.LOCK.read_text())


@pytest.mark.parametrize("python", lock.pythons(LOCKED))
def test_every_top_level_pin_agrees_with_the_lock(python):
    locked = lock.versions_for(LOCKED, python)
    for package, version in lock.top_level().items():
        assert locked.get(package) == version, f"{package}=={version} is pinned, the lock has {locked.get(package)}: make lock"


@pytest.mark.parametrize("python", lock.pythons(LOCKED))
def test_labstack_proxy_was_written_for_the_locked_upstream(python):
    from labstack_proxy.upstream import SUPPORTED

    locked = lock.versions_for(LOCKED, python)
    for distribution, supported in SUPPORTED.items():
        assert locked[lock.normalized(distribution)] in supported, distribution


def test_the_lock_is_made_on_each_debian_suites_python():
    assert lock.pythons(LOCKED) == ["3.11", "3.13"]  # bookworm's and trixie's


def test_every_pip_install_into_the_jupyter_environment_obeys_the_lock():
    installs = []
    for path in sorted((REPO_ROOT / "images").rglob("*")):
        if path.is_file() and (path.name == "Dockerfile" or path.suffix == ".sh" or path.parent.name == "install"):
            text = path.read_text(errors="replace").replace("\\\n", " ")
            installs += [(path.name, line) for line in text.splitlines()
                         if re.search(r"\bpip\"? install\b", line) and not line.lstrip().startswith("#")
                         and "/tmp/nodewheel" not in line  # code-server's builder: a throwaway venv
                         and "--target /tmp/uv " not in line]  # install-jupyter.sh's installer, removed after
    assert len(installs) >= 4, installs  # base's Jupyter, labstack-proxy, VS Code's and RStudio's proxies
    for name, line in installs:
        assert "--constraint /usr/local/lib/labstack/jupyter-lock.txt" in line or "--no-index" in line, (name, line)


def test_a_lock_round_trips_and_marks_only_what_differs():
    text = lock.render({"3.13": {"a": "1", "b": "2"}, "3.11": {"a": "1", "b": "1", "c": "3"}}, {"a": "1"})
    assert "\na==1\n" in text and 'b==1; python_version == "3.11"' in text and 'c==3; python_version == "3.11"' in text
    parsed = lock.parse(text)
    assert lock.versions_for(parsed, "3.13") == {"a": "1", "b": "2"}
    assert lock.versions_for(parsed, "3.11") == {"a": "1", "b": "1", "c": "3"}
    assert lock.versions_for(parsed, "3.12") == {"a": "1"}  # another Python: only what all agreed on


def test_a_malformed_lock_line_is_named():
    with pytest.raises(LabstackError, match="line 2: not"):
        lock.parse("a==1\nb>=2\n")


def test_a_jupyter_package_must_name_a_pinned_argument(tmp_path, monkeypatch):
    layer = tmp_path / "images" / "extra"
    layer.mkdir(parents=True)
    (layer / "image.toml").write_text('name = "extra"\nparent = "base"\n[jupyter_packages]\nextra-proxy = "EXTRA_VERSION"\n')
    (layer / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setattr("labstack.REPO_ROOT", tmp_path)
    with pytest.raises(LabstackError, match="EXTRA_VERSION, which extra/Dockerfile does not pin"):
        lock.top_level(tmp_path / "images")
