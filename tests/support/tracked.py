"""The tests' own containers, volumes and networks: labelled io.labstack.smoke, whose value names the
test run (LABSTACK_SMOKE_SESSION, "1" when unset), so that two runs on one engine tell theirs apart and
the session's teardown finds what a test left behind."""
from __future__ import annotations

import os

from labstack.containers import PURPOSE_LABEL, TEST_LABEL, TrackedContainer

LABEL = TEST_LABEL


def session_label() -> dict[str, str]:
    return {LABEL: os.environ.get("LABSTACK_SMOKE_SESSION", "1")}


def session_filter() -> str:
    """The label filter for this run's containers and volumes: this run's alone where LABSTACK_SMOKE_SESSION
    names it (two test runs on one engine), else every one a test made."""
    session = os.environ.get("LABSTACK_SMOKE_SESSION")
    return f"{LABEL}={session}" if session else LABEL


# What labstack itself starts for a build.py the tests run (a `run` the test stops itself): counted as
# left behind only when this run is the engine's only one (no LABSTACK_SMOKE_SESSION).
PRODUCT_FILTERS = [f"{PURPOSE_LABEL}={purpose}" for purpose in ("migrate", "measure", "lock")]


class TestContainer(TrackedContainer):
    """A TrackedContainer of this test run."""
    __test__ = False  # not a test class, for pytest

    def __init__(self, image: str, **run_kwargs):
        run_kwargs.setdefault("labels", session_label())
        super().__init__(image, **run_kwargs)
