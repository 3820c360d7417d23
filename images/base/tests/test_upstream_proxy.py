"""jupyter-server-proxy's own test suite, at the pinned version, on the base image's Jupyter environment
with labstack's changes installed (upstream_suite.py; pins in images/base/labstack-proxy/). It runs
once, on the base image: every other image has the same Jupyter environment and the same package."""
import os

import pytest

import upstream_suite


def test_upstream_suite_passes_with_labstack_proxy(image):
    if not upstream_suite.fetched():
        message = ("jupyter-server-proxy's test suite is not in build/upstream-suite: "
                   "scripts/install-deps test fetches it (PYTHONPATH=. python3 tests/support/upstream_suite.py fetch)")
        if os.environ.get("LABSTACK_REQUIRE_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    outcome = upstream_suite.run(image("base"))
    flaky = upstream_suite.PINS.get("flaky", {})
    if outcome.failed and all(any(part in test for part in flaky) for test in outcome.failed):
        print(f"\nlabstack: upstream's suite failed only tests listed as flaky, run again: {outcome.failed}")
        outcome = upstream_suite.run(image("base"))
    known = upstream_suite.PINS.get("known_failures", {})
    unexpected = [test for test in outcome.failed if test not in known]
    assert not unexpected, f"{len(unexpected)} of upstream's tests failed: {unexpected[:10]}\n{outcome.output[-4000:]}"
    # the whole suite ran: 132 tests at 4.6.0 (its four modules, each on `jupyter lab` and `jupyter notebook`)
    assert outcome.passed >= 120, outcome.output[-4000:]
