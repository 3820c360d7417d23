#!/usr/bin/env python3
"""`make stress`: the browser and hub tests, run again and again beside two CPU burners, to find what
fails only under load (issue 46). Not in CI: it runs for up to an hour.

Each round is a whole pytest session of those tests, as CI runs them (one lane, their modules' hubs and
containers made afresh), while two processes spin on the CPU: a 2-core machine is then as busy as in a
two-lane `make test`. The images are built once first (from the cache when nothing changed) and handed to
every round, as `build.py test` does.

STRESS_CHURN=1 also makes and removes a Docker network every 3 s, as the lane beside does in a full run.
STRESS_ROUNDS (default 3) rounds; STRESS_MINUTES (default 55) stops before a round that would end past it,
judged by the longest round so far. STRESS_LABEL names the report: reports/stress-LABEL.md and .json give
each test's passes out of runs, and the first line of each failure; a failed round's evidence (screenshots,
failed requests, log tails) stays in reports/stress-LABEL-round-N.log. Extra arguments go to pytest
(`-k shiny`, a module's path) and narrow the selection.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# A test is a browser or hub test when it asks for one of these fixtures (test_culling's `culling` brings
# both a hub and its own chromium).
BROWSER_OR_HUB = {"browser", "hub", "users", "culling", "spawned"}
RESULTS_ENV = "LABSTACK_STRESS_RESULTS"


# --- the pytest plugin each round loads (-p stress) -------------------------------------------------

def pytest_collection_modifyitems(config, items):
    chosen = [item for item in items if BROWSER_OR_HUB & set(getattr(item, "fixturenames", ()))]
    config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
    items[:] = chosen


def pytest_runtest_logreport(report):
    path = os.environ.get(RESULTS_ENV)
    failed_setup = report.when in ("setup", "teardown") and report.failed
    if not path or not (report.when == "call" or failed_setup or report.skipped):
        return
    outcome = "failed" if report.failed else report.outcome
    first_line = ""
    if report.failed:
        text = str(report.longrepr)
        errors = [line for line in text.splitlines() if line.startswith("E ")]
        first_line = (errors[0] if errors else text.splitlines()[-1] if text else "")[:200]
    with open(path, "a") as results:
        results.write(json.dumps({"test": report.nodeid, "when": report.when, "outcome": outcome,
                                  "seconds": round(report.duration, 1), "why": first_line}) + "\n")


# --- the runner ------------------------------------------------------------------------------------

def burn() -> None:
    while True:
        pass


def churn(stop) -> None:
    """What the lane beside does to the host's network in a full run: a bridge network made and removed,
    a container started on it, every few seconds (STRESS_CHURN=1). Chromium on the engine's host sees
    each as a network change."""
    from labstack.engine import client

    engine = client()
    for number in range(100_000):
        if stop.wait(3):
            return
        network = engine.networks.create(f"labstack-stress-churn-{os.getpid()}-{number}",
                                         labels={"io.labstack.stress": "churn"})
        try:
            engine.containers.run("labstack/base:smoke", ["true"], network=network.name, remove=True,
                                  labels={"io.labstack.stress": "churn"})
        finally:
            network.remove()


def build_images() -> tuple[list[str], str]:
    """The images every round tests, built once: (pytest options naming them, the settings file)."""
    sys.path[:0] = [str(REPO), str(HERE / "support")]
    from dataclasses import replace

    from labstack.graph import images_dir, layer_folders, load_graph
    from labstack.tags import Naming
    from labstack.settings import from_environment, to_json
    from labstack.testing.plan import build_in_waves, default_specs

    graph = load_graph(images_dir(), *layer_folders())
    # the tests' own tag, as tests/support/image_tests.py builds by hand: a user's images are never moved
    settings = replace(from_environment(graph), naming=replace(Naming.from_environment(tag="smoke"), version_tag=""))
    images, notes = build_in_waves(default_specs(graph), settings, graph, lambda line: None)
    for note in notes:
        print(f"stress: {note}", flush=True)
    saved = tempfile.NamedTemporaryFile("w", prefix="labstack-stress-settings-", suffix=".json", delete=False)
    saved.write(to_json(settings))
    saved.close()
    options = [arg for name, ref in images.items() for arg in ("--image", f"{name}={ref}")]
    return options + ["--labstack-settings", saved.name], saved.name


def tally(lines: list[dict]) -> dict[str, dict]:
    """One outcome per test and round: failed when any phase failed, else skipped, else passed."""
    by_run: dict[tuple[str, int], list[dict]] = {}
    for line in lines:
        by_run.setdefault((line["test"], line["round"]), []).append(line)
    tests: dict[str, dict] = {}
    for (test, number), phases in sorted(by_run.items()):
        entry = tests.setdefault(test, {"runs": 0, "passed": 0, "skipped": 0, "failures": []})
        entry["runs"] += 1
        failed = [phase for phase in phases if phase["outcome"] == "failed"]
        if failed:
            entry["failures"] += [f"round {number} ({phase['when']}, {phase['seconds']} s): {phase['why']}" for phase in failed]
        elif any(phase["outcome"] == "skipped" for phase in phases):
            entry["skipped"] += 1
        else:
            entry["passed"] += 1
    return tests


def write_report(label: str, tests: dict[str, dict], rounds: list[dict], burners: int) -> Path:
    reports = REPO / "reports"
    reports.mkdir(exist_ok=True)
    (reports / f"stress-{label}.json").write_text(json.dumps({"rounds": rounds, "tests": tests}, indent=1))
    ran = [test for test, entry in tests.items() if entry["runs"] > entry["skipped"]]
    beside = f"{burners} CPU burner(s)" + (" and a network made and removed every 3 s" if os.environ.get("STRESS_CHURN") == "1" else "")
    lines = [f"# Stress run `{label}`", "",
             f"{len(rounds)} round(s) beside {beside} on {os.cpu_count()} core(s): "
             + ", ".join(f"round {r['round']} {r['seconds']:.0f} s (exit {r['exit']})" for r in rounds) + ".",
             f"{sum(tests[t]['passed'] for t in ran)} passes out of {sum(tests[t]['runs'] - tests[t]['skipped'] for t in ran)}"
             f" runs of {len(ran)} tests.", "",
             "| test | passed / runs | failures |", "|---|---|---|"]
    for test in sorted(tests, key=lambda t: (tests[t]["passed"] == tests[t]["runs"] - tests[t]["skipped"], t)):
        entry = tests[test]
        runs = entry["runs"] - entry["skipped"]
        shown = f"{entry['passed']} / {runs}" + (f" ({entry['skipped']} skipped)" if entry["skipped"] else "")
        lines.append(f"| `{test}` | {shown} | {'<br>'.join(entry['failures']).replace('|', '/')} |")
    path = reports / f"stress-{label}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(pytest_args: list[str]) -> int:
    rounds_wanted = int(os.environ.get("STRESS_ROUNDS", "3"))
    minutes = float(os.environ.get("STRESS_MINUTES", "55"))
    label = os.environ.get("STRESS_LABEL", time.strftime("%Y%m%d-%H%M"))
    started = time.monotonic()
    options, settings_file = build_images()
    print(f"stress: images ready after {time.monotonic() - started:.0f} s", flush=True)
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(2)]
    for burner in burners:
        burner.start()
    import threading

    stop_churn = threading.Event()
    if os.environ.get("STRESS_CHURN") == "1":
        threading.Thread(target=churn, args=(stop_churn,), daemon=True).start()
    results = Path(tempfile.mkstemp(prefix="labstack-stress-", suffix=".jsonl")[1])
    rounds: list[dict] = []
    lines: list[dict] = []
    try:
        for number in range(1, rounds_wanted + 1):
            longest = max((r["seconds"] for r in rounds), default=0)
            if rounds and time.monotonic() - started + longest > minutes * 60:
                print(f"stress: round {number} would end past {minutes:.0f} minutes; stopping", flush=True)
                break
            results.write_text("")
            log = REPO / "reports" / f"stress-{label}-round-{number}.log"
            log.parent.mkdir(exist_ok=True)
            env = dict(os.environ, **{RESULTS_ENV: str(results), "LABSTACK_SMOKE_SESSION": f"stress-{os.getpid()}-{number}",
                                      "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))})
            began = time.monotonic()
            with log.open("w") as output:
                code = subprocess.call([sys.executable, "-m", "pytest", "images", "tests/declared", "-p", "stress", "-q",
                                        *options, *pytest_args], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
            seconds = time.monotonic() - began
            this_round = [dict(json.loads(line), round=number) for line in results.read_text().splitlines() if line]
            lines += this_round
            rounds.append({"round": number, "seconds": round(seconds), "exit": code})
            failed = sorted({line["test"] for line in this_round if line["outcome"] == "failed"})
            print(f"stress: round {number}: {seconds:.0f} s, {len(this_round)} results, "
                  f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''} (log {log})", flush=True)
            if code not in (0, 1):  # 1: tests failed; anything else: pytest itself could not run them
                break
            if code == 0:
                log.unlink()
    finally:
        stop_churn.set()
        for burner in burners:
            burner.terminate()
        results.unlink(missing_ok=True)
        os.unlink(settings_file)
    path = write_report(label, tally(lines), rounds, len(burners))
    print(f"stress: report {path}", flush=True)
    return 0 if rounds and all(r["exit"] == 0 for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
