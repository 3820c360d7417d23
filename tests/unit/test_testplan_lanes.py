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


def test_two_lanes_run_together_and_fail_if_either_fails(capfd, tmp_path):
    import sys

    from labstack.testplan import run_in_two_lanes

    # The main lane goes on only once the second has started (5 s at most, else it fails): run one after
    # the other, they would fail. Each prints its session, then exits with the code it is given.
    started = tmp_path / "second-started"
    wait = ("import os, sys, time; path = sys.argv[2]\n"
            "for _ in range(100):\n    if os.path.exists(path): break\n    time.sleep(0.05)\nelse: sys.exit(3)\n"
            "print(os.environ['LABSTACK_SMOKE_SESSION']); sys.exit(int(sys.argv[1]))")
    mark = "import os, pathlib, sys; pathlib.Path(sys.argv[2]).touch(); print(os.environ['LABSTACK_SMOKE_SESSION']); sys.exit(int(sys.argv[1]))"
    env, lines = {"PATH": "/usr/bin:/bin"}, []

    def lanes(main_code: int, second_code: int) -> int:
        started.unlink(missing_ok=True)
        return run_in_two_lanes([sys.executable, "-c", wait, str(main_code), str(started)],
                                [sys.executable, "-c", mark, str(second_code), str(started)], [], env, lines.append)

    assert lanes(0, 0) == 0
    out = capfd.readouterr().out.split()
    assert len(out) == 2 and out[1] == out[0] + "-beside"  # the second lane's output after the first's
    assert lanes(0, 1) == 1
    assert lanes(2, 0) == 2
