"""Containers labstack starts for its own work say what for; the tests' label is the tests' own."""
import pytest

from labstack import REPO_ROOT
from labstack.containers import PURPOSE_LABEL, TrackedContainer


def test_a_container_of_labstack_says_what_it_is_for():
    assert TrackedContainer("x", purpose="measure").run_kwargs["labels"] == {PURPOSE_LABEL: "measure"}
    with pytest.raises(ValueError, match="what it is for"):
        TrackedContainer("x")


def test_no_production_container_carries_the_tests_label():
    """`build.py run` and migrate's probes once carried io.labstack.smoke, the tests' label."""
    users = [path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "labstack").rglob("*.py")
             if "io.labstack.smoke" in path.read_text() or "TEST_LABEL" in path.read_text()]
    assert sorted(users) == ["labstack/clean.py", "labstack/containers.py"], users
