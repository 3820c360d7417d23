"""The image tests in lanes: pytest processes side by side on one engine, each with its share of the
test modules. Most of a module's time is spent waiting (a server booting, a hub spawning, a build
downloading): measured here, one run in a single lane kept two cores 55% busy. Each lane is a test run of
its own (LABSTACK_SMOKE_SESSION), so its containers, volumes and leftovers checks are its own.

Modules are dealt by their seconds in tests/support/module-seconds.toml (the "seconds by module" a full
run prints), longest first, each to the lane with the fewest seconds so far; a module not listed there
counts as the mean. What each lane prints is passed on line by line, led by its number."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

from .. import REPO_ROOT

SECONDS_FILE = REPO_ROOT / "tests" / "support" / "module-seconds.toml"
NO_TESTS_RAN = 5  # pytest's exit code when a lane's share selected nothing (-k)


def default_lanes() -> int:
    """Two where there are two cores or more: a cold run in two lanes keeps both cores about 97% busy,
    so a third would only queue for the CPU."""
    return min(2, os.cpu_count() or 1)


def module_seconds(path: Path = SECONDS_FILE) -> dict[str, float]:
    if not path.is_file():
        return {}
    return {name: float(seconds) for name, seconds in tomllib.loads(path.read_text())["seconds"].items()}


def deal(groups: list[list[str]], lanes: int, seconds: dict[str, float]) -> list[list[str]]:
    """Groups of modules (paths; a group goes to one lane whole) into at most `lanes` lists of about
    equal seconds, each in the groups' order."""
    mean = sum(seconds.values()) / len(seconds) if seconds else 1.0
    weight = [sum(seconds.get(Path(module).name, mean) for module in group) for group in groups]
    lanes = max(1, min(lanes, len(groups)))
    shares: list[list[int]] = [[] for _ in range(lanes)]
    totals = [0.0] * lanes
    for index in sorted(range(len(groups)), key=lambda index: -weight[index]):  # stable: ties keep their order
        lane = totals.index(min(totals))
        shares[lane].append(index)
        totals[lane] += weight[index]
    return [[module for index in sorted(share) for module in groups[index]] for share in shares if share]


def run_lanes(commands: list[list[str]], env: dict[str, str], cwd: Path) -> int:
    """Run each command (a pytest) at once, in a session of its own, its output led by "[N] "; the
    first failing lane's exit code, 0 when every lane passed (or selected nothing while another ran)."""
    if len(commands) == 1:
        return subprocess.call(commands[0], cwd=cwd, env=env)
    session = env.get("LABSTACK_SMOKE_SESSION") or f"lanes-{os.getpid()}"
    processes = [subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=dict(env, LABSTACK_SMOKE_SESSION=f"{session}-{number}"))
                 for number, command in enumerate(commands, 1)]
    lock = threading.Lock()

    def relay(number: int, process: subprocess.Popen) -> None:
        for line in process.stdout:
            with lock:
                sys.stdout.buffer.write(f"[{number}] ".encode() + line)
                sys.stdout.buffer.flush()

    relays = [threading.Thread(target=relay, args=(number, process), daemon=True)
              for number, process in enumerate(processes, 1)]
    for thread in relays:
        thread.start()
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:  # Ctrl-C reached every lane too (one process group): let each clean up
        for process in processes:
            process.wait()
        raise
    finally:
        for thread in relays:
            thread.join(10)
    return combined(codes)


def combined(codes: list[int]) -> int:
    failing = [code for code in codes if code not in (0, NO_TESTS_RAN)]
    if failing:
        return failing[0]
    return 0 if 0 in codes else NO_TESTS_RAN
