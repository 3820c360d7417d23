#!/usr/bin/env python3
"""`make bench`: build times (cold and warm), image sizes, start-to-first-200, start-to-usable in a real
browser (JupyterLab's launcher clickable, VS Code's editor taking text, Shiny's output rendered) and
migration figures.

Writes reports/bench.md and reports/bench.json. Speed and size targets live here, never in tests.
Cold builds use --no-cache (the bootstrapped base image is timed separately); warm builds repeat the
same build with nothing changed. Every request goes to a loopback port and every wait is bounded.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent / "images")]

from labstack.graph import images_dir, load_graph  # noqa: E402
from labstack.settings import from_environment  # noqa: E402
from labstack import REPO_ROOT  # noqa: E402
from labstack.baseimage import BOOTSTRAP_TAG, bootstrap, resolve_base_image  # noqa: E402
from labstack.builder import build_spec  # noqa: E402
from labstack.engine import remove_image  # noqa: E402
from labstack.migrate import migrate  # noqa: E402
from labstack.naming import Naming, source_version  # noqa: E402
from jupyter_container import JupyterContainer  # noqa: E402
from legacy import CODERCOM, LINUXSERVER, LegacyContainer, build_legacy_image, new_layout  # noqa: E402

REPORTS = REPO_ROOT / "reports"
STARTS = int(os.environ.get("BENCH_STARTS", "3"))


def log(line: str) -> None:
    if line.startswith("labstack:"):
        print(line, file=sys.stderr, flush=True)


def first_200(image: str, path: str, timeout: float = 180) -> float:
    """Seconds from `docker run` to the first 200 at path (through the proxy, with the token)."""
    jupyter = JupyterContainer(image)
    started = time.monotonic()
    try:
        jupyter.start(ready_timeout=timeout)
        jupyter.wait_for(path, timeout=timeout, interval=0.1)
        return time.monotonic() - started
    finally:
        jupyter.stop()


def time_to_usable(image: str, what: str, timeout: float = 180) -> float:
    """Seconds from `docker run` to usable in a real browser: JupyterLab's launcher clickable, VS Code's
    editor taking typed text, or the Shiny example's output rendered."""
    from playwright.sync_api import sync_playwright

    from browser import launch_browser, login, visit

    jupyter = JupyterContainer(image)
    started = time.monotonic()
    try:
        jupyter.start(ready_timeout=timeout)
        with sync_playwright() as playwright:
            chromium = launch_browser(playwright)
            page_visit = visit(chromium, jupyter.base_url)
            page = page_visit.page
            login(page_visit, jupyter)
            if what == "lab":
                page.locator(".jp-LauncherCard").first.click(trial=True)
            elif what == "vscode":
                page.goto(f"{jupyter.base_url}/vscode/")
                page.wait_for_selector(".monaco-workbench .part.editor", timeout=timeout * 1000)
                page.keyboard.press("F1")
                page.keyboard.type("File: New Untitled Text File")
                page.wait_for_timeout(300)
                page.keyboard.press("Enter")
                page.wait_for_selector(".monaco-editor textarea", timeout=timeout * 1000)
                page.keyboard.type("usable")
                page.wait_for_selector(".view-line:has-text('usable')", timeout=timeout * 1000)
            else:
                page.goto(f"{jupyter.base_url}/shiny/")
                page.wait_for_selector("#summary:has-text('labstack-shiny-ok')", timeout=timeout * 1000)
            seconds = time.monotonic() - started
            chromium.close()
        return seconds
    finally:
        jupyter.stop()


def main() -> int:
    settings = from_environment(load_graph(images_dir()))
    settings = replace(settings, naming=Naming(owner="labstack", tag="bench"))
    results: dict = {"commit": source_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": f"{os.cpu_count()} cores, {platform.machine()}", "builds": {}, "starts": {}}

    # The debootstrapped base image, as a machine without a registry makes it.
    base_ref = resolve_base_image(settings.base_image, log)
    if base_ref == BOOTSTRAP_TAG:
        started = time.monotonic()
        bootstrap(log, tag="labstack-bench/debian:bootstrap")
        results["bootstrap_seconds"] = round(time.monotonic() - started, 1)
        remove_image("labstack-bench/debian:bootstrap")

    # Each layer cold (--no-cache for that layer only, its parents from cache), then warm (nothing changed).
    # The combination is measured as users meet it: rstudio and code-server's compiled stage in the cache.
    for spec, layer in (("base", "base"), ("code-server", "code-server"), ("rstudio", "rstudio"),
                        ("rstudio+code-server", None)):
        cold = build_spec(spec, replace(settings, no_cache_layers=frozenset([layer] if layer else [])), log)[-1]
        warm = build_spec(spec, settings, log)[-1]
        results["builds"][cold.name] = {"size_mb": round(cold.size_bytes / 1e6),
                                        "cold_seconds": round(cold.seconds, 1), "warm_seconds": round(warm.seconds, 1)}

    tags = {name: settings.naming.tags(name)[0] for name in results["builds"]}
    for image, path in (("base", "/lab"), ("code-server", "/vscode/"), ("rstudio", "/shiny/")):
        times = [first_200(tags[image], path) for _ in range(STARTS)]
        results["starts"][f"{image} {path}"] = {"median_seconds": round(statistics.median(times), 2),
                                                 "runs": [round(t, 2) for t in times]}

    results["usable"] = {f"{image} {what}": round(time_to_usable(tags[image], what), 1)
                         for image, what in (("base", "lab"), ("code-server", "lab"), ("code-server", "vscode"),
                                             ("rstudio", "shiny"))}

    results["migration"] = {}
    for layout in (CODERCOM, LINUXSERVER):
        legacy = build_legacy_image(f"labstack-bench/legacy-{layout['name']}:bench", base_ref, tags["code-server"],
                                    settings, target=layout["name"])
        with LegacyContainer(legacy, new_layout(layout)) as container:
            result = migrate(container=container.container_name, from_image=None,
                             target="labstack-bench/migrated:bench", user=None, owner="labstack", registry="",
                             tag="bench", ca_bundle=settings.ca_bundle, network=settings.network, no_cache=True,
                             build_args={}, log=log)
        results["migration"][layout["name"]] = {
            "seconds_cold": round(result["seconds"], 1), "adds_mb": round(result["added_bytes"] / 1e6),
            "copied_from_mounts_mb": round(result["copied_bytes"] / 1e6, 1)}
        remove_image("labstack-bench/migrated:bench")
        remove_image(legacy)

    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    (REPORTS / "bench.md").write_text(render(results))
    print(render(results))
    return 0


def render(r: dict) -> str:
    lines = [f"# labstack bench — {r['date']}, {r['commit']}, {r['machine']}", ""]
    if "bootstrap_seconds" in r:
        lines += [f"debootstrap of the Debian base image: {r['bootstrap_seconds']} s", ""]
    lines += ["| image | size (MB) | cold build (s) | warm build (s) |", "|---|---|---|---|"]
    for name, b in r["builds"].items():
        lines.append(f"| {name} | {b.get('size_mb', '')} | {b.get('cold_seconds', '')} | {b['warm_seconds']} |")
    lines += ["", "| start to first 200 | median (s) | runs (s) |", "|---|---|---|"]
    for what, s in r["starts"].items():
        lines.append(f"| {what} | {s['median_seconds']} | {', '.join(map(str, s['runs']))} |")
    lines += ["", "| start to usable in a browser (chromium) | seconds |", "|---|---|"]
    lines += [f"| {what} | {seconds} |" for what, seconds in r.get("usable", {}).items()]
    lines += ["", "| migration (cold) | time (s) | copied from mounts (MB) | adds to the commit (MB) |",
              "|---|---|---|---|"]
    for layout, m in r["migration"].items():
        lines.append(f"| {layout}-style container | {m['seconds_cold']} | {m['copied_from_mounts_mb']} | {m['adds_mb']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
