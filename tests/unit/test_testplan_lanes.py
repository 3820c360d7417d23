"""`build.py test all` runs the modules that say RUNS_BESIDE_THE_OTHERS in a second pytest beside the rest
(labstack/testplan.py). Two runs share one engine then, so such a module must neither drive a browser nor a
hub (chromium and the hubs are what the main run times), nor make or compare the engine's tags."""
import re

from labstack.testplan import TESTS, modules_beside

# in its code (comments aside): the browser fixture or module, the hub helpers, every tag or container on
# the engine
NOT_BESIDE = [r"\bbrowser\b", r"\brealhub\b", r"\ball_tags\b", r"\.list\(all=True\)"]


def test_the_modules_beside_are_the_ones_that_say_so():
    names = sorted(path.rsplit("/", 1)[1] for path in modules_beside())
    assert names == ["test_any_uid.py", "test_interrupt.py", "test_upstream_proxy.py"]
    assert not any("RUNS_BESIDE_THE_OTHERS" in path.read_text() for path in TESTS.glob("*.py")
                   if str(path) not in modules_beside() and path.name != "conftest.py")


def test_a_module_beside_needs_no_browser_no_hub_and_no_engine_wide_comparison():
    for module in modules_beside():
        text = "\n".join(line.split("#", 1)[0] for line in open(module).read().splitlines())
        for pattern in NOT_BESIDE:
            assert not re.search(pattern, text, re.MULTILINE), f"{module} uses {pattern}: it can't run beside the others"


def test_two_lanes_run_together_and_fail_if_either_fails(capfd):
    import sys
    import time

    from labstack.testplan import run_in_two_lanes

    lines = []
    started = time.monotonic()
    # each lane sleeps 0.4 s and prints its session: together they take about 0.4 s, not 0.8
    lane = [sys.executable, "-c", "import os, sys, time; time.sleep(0.4); print(os.environ['LABSTACK_SMOKE_SESSION']); "
                                  "sys.exit(int(sys.argv[1]))"]
    assert run_in_two_lanes(lane + ["0"], lane + ["0"], [], {"PATH": "/usr/bin:/bin"}, lines.append) == 0
    assert time.monotonic() - started < 0.75
    out = capfd.readouterr().out.split()
    assert len(out) == 2 and out[1] == out[0] + "-beside"  # the second lane's output after the first's
    assert run_in_two_lanes(lane + ["0"], lane + ["1"], [], {"PATH": "/usr/bin:/bin"}, lines.append) == 1
    assert run_in_two_lanes(lane + ["2"], lane + ["0"], [], {"PATH": "/usr/bin:/bin"}, lines.append) == 2
