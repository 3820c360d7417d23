#!/usr/bin/env python3
"""`make bench`: build times (cold and warm), image sizes, start-to-first-200, start-to-usable in a real
browser (JupyterLab's launcher clickable, VS Code's editor taking text, Shiny's output rendered),
migration figures, the proxy (direct against proxied throughput, Jupyter's memory growth), slow clients
(flow control against upstream's path: memory growth, throughput, survival under a 1 GB limit), idle memory
with every app started, load on one server, the time each app takes to come back after SIGKILL, and on
a second engine (Docker 26, scripts/start-engine26) the graph built cold by bake and by build.py, and
repo2docker's build of a repository on a labstack image.

BENCH_SECTIONS=proxy (comma-separated: builds, sizes, starts, usable, firstuse, migration, proxy, slow, memory,
load, recovery, beyond) runs only those; the builds section runs whenever a later one needs its images (tagged
labstack/*:bench). LABSTACK_LOAD_SECONDS shortens the load run (60 s by default).
BENCH_BASELINE=base=labstack/base:0.1.0-abc,code-server=...,rstudio=... names earlier images that the
firstuse and load sections measure too, in the same run, for the ratios.

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
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

# the repository, the tests' helpers, and the migration layer's test helpers (legacy containers), which
# live in that layer's folder
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support"), str(ROOT / "images" / "mig" / "tests")]

from labstack.graph import images_dir, load_graph  # noqa: E402
from labstack.settings import from_environment  # noqa: E402
from labstack import REPO_ROOT  # noqa: E402
from labstack.baseimage import BOOTSTRAP_TAG, bootstrap, resolve_base_image  # noqa: E402
from labstack.builder import build_spec  # noqa: E402
from labstack.engine import remove_image  # noqa: E402
from labstack.migration.migrate import migrate  # noqa: E402
from labstack.tags import Naming, source_version  # noqa: E402
from jupyter_container import JupyterContainer  # noqa: E402
from first_use import PHASES  # noqa: E402
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
    from first_use import wait_until_usable

    jupyter = JupyterContainer(image)
    started = time.monotonic()
    try:
        jupyter.start(ready_timeout=timeout)
        with sync_playwright() as playwright:
            chromium = launch_browser(playwright)
            page_visit = visit(chromium, jupyter.base_url)
            page = page_visit.page
            login(page_visit, jupyter)
            if what != "lab":  # login left it on JupyterLab's launcher
                page.goto(f"{jupyter.base_url}/{what}/")
            wait_until_usable(page, what, timeout)
            seconds = time.monotonic() - started
            chromium.close()
        return seconds
    finally:
        jupyter.stop()


def download_seconds(url: str, headers: dict, size: int) -> float:
    import requests

    started = time.monotonic()
    received = 0
    with requests.get(url, headers=headers, stream=True, timeout=1200) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            received += len(chunk)
    assert received == size, (url, received, size)
    return time.monotonic() - started


def upload_seconds(url: str, headers: dict, size: int) -> float:
    import requests

    from probes import PatternBody

    started = time.monotonic()
    response = requests.post(url, data=PatternBody(size), headers=headers, timeout=1200)
    response.raise_for_status()
    assert response.text.split()[0] == str(size), (url, response.text[:200])
    return time.monotonic() - started


def proxy_figures(image: str) -> dict:
    """Direct against proxied (/proxy/<port>/) transfers with the test app, in one container: downloads,
    an upload and a websocket stream; and Jupyter's peak memory growth over each (reset before it)."""
    from probes import jupyter_memory, reset_peak_memory, start_proxy_app, websocket_stream_seconds

    def websocket_seconds(base: str, headers: dict, size: int) -> float:
        return websocket_stream_seconds(f"ws{base[4:]}/ws/stream/{size}", [f"{k}: {v}" for k, v in headers.items()], size)

    transfers = {  # label: (bytes, seconds(base url, headers, size))
        "download 10 MB": (10 << 20, lambda base, headers, size: download_seconds(f"{base}/bytes/{size}", headers, size)),
        "download 1 GB": (1 << 30, lambda base, headers, size: download_seconds(f"{base}/bytes/{size}", headers, size)),
        "upload 1 GB": (1 << 30, lambda base, headers, size: upload_seconds(f"{base}/upload", headers, size)),
        "websocket 100 MB": (100 << 20, websocket_seconds),
    }
    figures: dict = {}
    with JupyterContainer(image) as jupyter:
        port = start_proxy_app(jupyter)
        auth = {"Authorization": f"token {jupyter.token}"}
        for label, (size, seconds) in transfers.items():
            direct = min(seconds(f"http://127.0.0.1:{port}", {}, size) for _ in range(3))
            before = jupyter_memory(jupyter)
            reset_peak_memory(jupyter, before["pid"])
            proxied = min(seconds(jupyter.url(f"/proxy/{port}"), auth, size) for _ in range(3))
            figures[label] = {
                "direct_mb_s": round(size / direct / 1e6), "proxied_mb_s": round(size / proxied / 1e6),
                "ratio": round(direct / proxied, 2),
                "memory_growth_mb": round(jupyter_memory(jupyter)["peak_mb"] - before["rss_mb"])}
            log(f"proxy: {label}: {figures[label]}")
    return figures


def slow_client_figures(image: str, stream_mb: int = 500, stall_seconds: float = 30) -> dict:
    """Flow control (labstack_proxy/flow.py) against upstream's path (LABSTACK_WEBSOCKET_BUFFER_MB=0), in one
    run: Jupyter's peak memory growth for a browser with a 4 KB window that reads nothing for
    stall_seconds (a stream_mb websocket stream through the proxy, and a terminal printing
    `head -c 300000000 /dev/zero | base64 -w 100`), the stream's completeness once read, websocket throughput
    against direct for a browser that reads, and, under a 1 GB memory limit with a kernel running, a 2 GB
    stream and a terminal printing 2 GB to a browser that reads nothing for 60 s: was Jupyter still running,
    and its kernel alive?"""
    import hashlib
    import json as json_

    import requests
    import websocket

    from probes import jupyter_memory, reset_peak_memory, start_kernel, start_proxy_app, websocket_stream_seconds
    from test_base_slow_clients import connect, growth_mb, stream_sha256

    def growth(jupyter, before) -> int:
        return round(growth_mb(jupyter, before))

    def stalled_stream(jupyter, port, size, stall, read=True) -> dict:
        before = jupyter_memory(jupyter)
        reset_peak_memory(jupyter, before["pid"])
        ws = connect(jupyter, f"/proxy/{port}/ws/stream/{size}", timeout=600)
        time.sleep(stall)
        figures = {"growth_mb": growth(jupyter, before)}
        if not read:
            ws.sock.close()
            return figures
        digest, received = hashlib.sha256(), 0
        try:
            for _ in range(size // (64 << 10) + 10):
                opcode, data = ws.recv_data(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                digest.update(data)
                received += len(data)
        except websocket.WebSocketException as error:
            figures["error"] = type(error).__name__
        finally:
            ws.close()
        figures["complete"] = received == size and digest.hexdigest() == stream_sha256(size)
        figures["received_mb"] = received >> 20
        return figures

    def stalled_terminal(jupyter, command, stall) -> dict:
        auth = {"Authorization": f"token {jupyter.token}"}
        name = requests.post(jupyter.url("/api/terminals"), headers=auth, timeout=30).json()["name"]
        before = jupyter_memory(jupyter)
        reset_peak_memory(jupyter, before["pid"])
        ws = connect(jupyter, f"/terminals/websocket/{name}")
        ws.send(json_.dumps(["stdin", command + "\r"]))
        time.sleep(stall)
        figures = {"growth_mb": growth(jupyter, before)}
        ws.sock.close()
        requests.delete(jupyter.url(f"/api/terminals/{name}"), headers=auth, timeout=60)
        return figures

    def alive(jupyter, kernel, pid) -> bool:
        try:
            state = requests.get(jupyter.url(f"/api/kernels/{kernel}"), timeout=30,
                                 headers={"Authorization": f"token {jupyter.token}"})
        except requests.RequestException:
            return False
        return state.status_code == 200 and state.json()["execution_state"] != "dead" and jupyter_memory(jupyter)["pid"] == pid

    figures: dict = {}
    for path, setting in (("upstream", "0"), ("labstack", "4")):
        environment = {"LABSTACK_WEBSOCKET_BUFFER_MB": setting}
        with JupyterContainer(image, environment=environment) as jupyter:
            port = start_proxy_app(jupyter)
            headers = [f"Authorization: token {jupyter.token}"]
            size = 100 << 20
            direct = min(websocket_stream_seconds(f"ws://127.0.0.1:{port}/ws/stream/{size}", [], size) for _ in range(3))
            proxied = min(websocket_stream_seconds(f"ws://{jupyter.host}:{jupyter.port}/proxy/{port}/ws/stream/{size}",
                                                   headers, size) for _ in range(3))
            figures[path] = {
                "websocket_ratio": round(direct / proxied, 2), "websocket_mb_s": round(size / proxied / 1e6),
                "stream": stalled_stream(jupyter, port, stream_mb << 20, stall_seconds),
                "terminal": stalled_terminal(jupyter, "head -c 300000000 /dev/zero | base64 -w 100", stall_seconds)}
        survived = {}
        for case in ("terminal_2gb_60s", "stream_2gb_60s"):  # each in a server of its own, under 1 GB
            with JupyterContainer(image, environment=environment, run_options={"mem_limit": "1g"}) as jupyter:
                kernel, pid = start_kernel(jupyter, "python3"), jupyter_memory(jupyter)["pid"]
                try:
                    if case.startswith("terminal"):
                        stalled_terminal(jupyter, "head -c 2000000000 /dev/zero | base64 -w 100", 60)
                    else:
                        stalled_stream(jupyter, start_proxy_app(jupyter), 2 << 30, 60, read=False)
                except Exception:  # noqa: BLE001 - the server killed (its container gone): what this measures
                    pass
                survived[case] = jupyter.tracked.status() == "running" and alive(jupyter, kernel, pid)
        figures[path]["limit_1g"] = survived
        log(f"labstack: slow clients, {path}: {figures[path]}")
    return figures


def idle_memory_mb(image: str, settle_seconds: float = 20) -> dict:
    """The container's memory with Jupyter and every app of the image started, then left idle: the
    cgroup's usage less its page cache, as `docker stats` counts it; and Jupyter's own resident size."""
    from probes import expected_server_names, jupyter_memory

    with JupyterContainer(image) as jupyter:
        apps = expected_server_names(jupyter)
        for name in apps:
            jupyter.wait_for(f"/{name}/", timeout=180)
        time.sleep(settle_seconds)
        stats = jupyter.tracked.container.stats(stream=False)["memory_stats"]
        cache = stats.get("stats", {}).get("cache", stats.get("stats", {}).get("inactive_file", 0))
        return {"apps": apps, "container_mb": round((stats["usage"] - cache) / 2**20),
                "jupyter_mb": round(jupyter_memory(jupyter)["rss_mb"])}


def load_figures(image: str, seconds: float) -> dict:
    """tests/support/load.py's full run: 50 clients and 20 websockets against one container."""
    from load import run_load
    from probes import start_proxy_app

    with JupyterContainer(image) as jupyter:
        figures = run_load(jupyter, start_proxy_app(jupyter), seconds, clients=50, websockets=20)
    log(f"load: {figures}")
    return figures


FIRST_USE_CASES = (("base", "lab"), ("code-server", "vscode"), ("rstudio", "shiny"), ("code-server", "vscode alone"))
# The hub runs VS Code alone with this command instead of Jupyter (the code-server layer's image.toml).
STANDALONE_CMD = ["labstack-vscode-standalone"]


def baseline_tags() -> dict:
    named = os.environ.get("BENCH_BASELINE", "")
    return dict(item.split("=", 1) for item in named.split(",") if "=" in item)


def measured_in_turn(cases: dict) -> dict:
    """Each case's phases in the run with the median time to usable of BENCH_STARTS runs (a 2-core machine
    varies by seconds from run to run), with every run's; or the first line of why one failed: one case
    does not lose the others. The cases take turns, run by run, after a warm-up round that counts for
    nothing: measured one after the other, the same image came out 11% slower through the hub when it
    went first than when it went last (the hub's and the browser's first spawns). The warm-up also makes
    each user's home, so every counted run starts on a home used before, alike for every case."""
    runs: dict = {case: [] for case in cases}
    failed: dict = {}
    for number in range(STARTS + 1):
        for case, measure in cases.items():
            if case in failed:
                continue
            try:
                phases = measure()
            except Exception as error:  # Playwright's timeouts, an assertion on missing phases
                failed[case] = {"failed": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
                continue
            if number > 0:
                runs[case].append(phases)
    figures = {}
    for case, done in runs.items():
        if case in failed:
            figures[case] = failed[case]
            continue
        median = sorted(done, key=lambda phases: phases["usable"])[len(done) // 2]
        figures[case] = {**median, "usable runs": [phases["usable"] for phases in done]}
        log(f"labstack: first use, {case}: {figures[case]}")
    return figures


def first_use_figures(tags: dict, baseline: dict) -> dict:
    """tests/support/first_use.py's phases for each case, today's images and the baseline's, from `docker
    run` and from the hub's spawn request through a real hub (one hub, a user per image and case)."""
    from playwright.sync_api import sync_playwright

    from browser import launch_browser
    from first_use import HUB_LANDS_ON_HOME, ROUTES, from_docker_run, through_hub
    from labstack.engine import client
    from realhub import docker_spawner_config, running_hub

    engine = client()
    runs = {"today": tags, **({"baseline": baseline} if baseline else {})}
    profiles = {f"{which}{what.replace(' ', '')}".replace("-", ""): {
        "image": images[image], "what": what, "which": which,
        **({"cmd": STANDALONE_CMD} if what.endswith("alone") else {"default_url": ROUTES[what]})}
        for which, images in runs.items() for image, what in FIRST_USE_CASES if image in images}
    spawner = docker_spawner_config("labstack-firstuse", tags["base"]) + HUB_LANDS_ON_HOME + f"""
PROFILES = {{user: {{k: v for k, v in p.items() if k in ("image", "cmd", "default_url")}} for user, p in {profiles!r}.items()}}
def pre_spawn_hook(spawner):
    profile = PROFILES[spawner.user.name]
    spawner.image = profile["image"]
    if "cmd" in profile:
        spawner.cmd = profile["cmd"]
    else:
        spawner.default_url = profile["default_url"]
c.Spawner.pre_spawn_hook = pre_spawn_hook
"""
    figures: dict = {"docker run": {}, "hub": {}}
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as workdir:
        chromium = launch_browser(playwright)
        # alone needs the hub's OAuth. Images from before the landing app read no JUPYTERHUB_DEFAULT_URL;
        # main's, given it outside a hub, never rendered VS Code's workbench here while a second client
        # asked for /vscode/ too.
        figures["docker run"] = measured_in_turn({
            f"{p['which']} {p['what']}": partial(from_docker_run, chromium, p["image"], p["what"], 180, p["which"] == "today")
            for p in profiles.values() if not p["what"].endswith("alone")})
        with running_hub(engine, Path(workdir), spawner, users=tuple(profiles)) as hub:
            figures["hub"] = measured_in_turn({
                f"{p['which']} {p['what']}": partial(through_hub, chromium, hub, engine, user, p["what"],
                                                     f"labstack-firstuse-{user}")
                for user, p in profiles.items()})
        chromium.close()
    return figures


def recovery_figures(tags: dict) -> dict:
    """Seconds from SIGKILL of each app to its route answering again, in every image that has it."""
    from probes import CRASH_PROBES, expected_server_names, recovery_seconds

    figures = {}
    for name, tag in tags.items():
        with JupyterContainer(tag) as jupyter:
            for app in expected_server_names(jupyter):
                route, marker, process = CRASH_PROBES[app]
                jupyter.wait_for(route, timeout=180)
                figures[f"{name} {app}"] = round(recovery_seconds(jupyter, route, marker, process, timeout=60), 1)
    return figures


def beyond_figures() -> dict:
    """On the Docker 26 engine beside this one (scripts/start-engine26), each from nothing but the base
    image (every other image and the whole BuildKit cache removed first): the graph built by
    `docker buildx bake`, then by `build.py build` one image after the other; then repo2docker building
    a repository (tests/support/engine26.py's) on the code-server image."""
    import tempfile

    from engine26 import (BASE_IMAGE, ENV_FILE, MISSING, SPECS, bake, build_py, engine26_client,
                          ensure_base_image, pointed_env, repo2docker_build, write_user_repo)

    if not ENV_FILE.is_file():
        log(f"labstack: bench: {MISSING}; no bake figures")
        return {}
    env = pointed_env()
    ensure_base_image(env)
    engine = engine26_client(env)

    def cold() -> None:
        for image in engine.images.list():
            if BASE_IMAGE not in image.tags:
                engine.images.remove(image.id, force=True)
        engine.api.prune_builds(all=True)

    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="labstack-bench-") as tmp:
        cold()
        _, figures["bake_seconds"] = bake(env, "bench-bake", Path(tmp))
        cold()
        started = time.monotonic()
        built = build_py("build", *SPECS, "--tag", "bench-seq", "--without-rstudio", "--base-image", BASE_IMAGE, env=env)
        figures["sequential_seconds"] = time.monotonic() - started
        assert built.returncode == 0, built.stdout[-2000:]
        figures["bake_over_sequential"] = figures["bake_seconds"] / figures["sequential_seconds"]
        repo = write_user_repo(Path(tmp) / "analysis")
        written = build_py("binder", "code-server", "--tag", "bench-seq", "--repo", str(repo), env=env)
        assert written.returncode == 0, written.stdout[-2000:]
        started = time.monotonic()
        result = repo2docker_build(env, repo, "labstack-bench/binder:bench", Path(tmp))
        figures["repo2docker_seconds"] = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-2000:]
    figures["engine"] = engine.version()["Version"]
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}


def largest_folders(image: str, count: int = 15) -> list[tuple[str, int]]:
    """The image's largest folders (MB, three levels deep), as `du` inside it sees them."""
    import docker

    script = f"du -xm --max-depth=3 / 2>/dev/null | sort -rn | sed -n '2,{count + 1}p'"
    output = docker.from_env().containers.run(image, ["sh", "-c", script], entrypoint=[], remove=True, user="0",
                                              labels={"io.labstack.smoke": "1"}).decode()
    return [(line.split("\t")[1], int(line.split("\t")[0])) for line in output.splitlines() if "\t" in line]


def main() -> int:
    settings = from_environment(load_graph(images_dir()))
    settings = replace(settings, naming=Naming(owner="labstack", tag="bench"))
    results: dict = {"commit": source_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": f"{os.cpu_count()} cores, {platform.machine()}", "builds": {}, "starts": {},
                     "migration": {}}
    sections = set(os.environ.get("BENCH_SECTIONS",
                                  "builds,starts,usable,firstuse,migration,proxy,slow,memory,load,recovery,beyond").split(","))
    if "beyond" in sections:  # first: it needs none of this engine's images, and the others none of its
        results["beyond"] = beyond_figures()
        if sections == {"beyond"}:
            return write_reports(results)

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
        if "builds" not in sections:  # only the images the other sections need, from the cache
            warm = build_spec(spec, settings, log)[-1]
            results["builds"][warm.name] = {"size_mb": round(warm.size_bytes / 1e6), "warm_seconds": round(warm.seconds, 1)}
            continue
        cold = build_spec(spec, replace(settings, no_cache_layers=frozenset([layer] if layer else [])), log)[-1]
        warm = build_spec(spec, settings, log)[-1]
        results["builds"][cold.name] = {"size_mb": round(cold.size_bytes / 1e6),
                                        "cold_seconds": round(cold.seconds, 1), "warm_seconds": round(warm.seconds, 1)}

    tags = {name: settings.naming.tags(name)[0] for name in results["builds"]}
    if "sizes" in sections or "builds" in sections:
        results["largest_folders"] = {name: largest_folders(tag) for name, tag in tags.items()}
    if "proxy" in sections:
        results["proxy"] = proxy_figures(tags["code-server"])
    if "slow" in sections:
        results["slow_clients"] = slow_client_figures(tags["code-server"])
    if "memory" in sections:
        results["idle_memory"] = {name: idle_memory_mb(tag) for name, tag in tags.items()}
    if "firstuse" in sections:
        results["first_use"] = first_use_figures(tags, baseline_tags())
    if "load" in sections:
        seconds = float(os.environ.get("LABSTACK_LOAD_SECONDS", "60"))
        results["load"] = load_figures(tags["code-server"], seconds)
        if "code-server" in baseline_tags():
            results["load_baseline"] = load_figures(baseline_tags()["code-server"], seconds)
    if "recovery" in sections:
        results["recovery"] = recovery_figures(tags)
    for image, path in (("base", "/lab"), ("code-server", "/vscode/"), ("rstudio", "/shiny/")):
        if "starts" not in sections:
            break
        times = [first_200(tags[image], path) for _ in range(STARTS)]
        results["starts"][f"{image} {path}"] = {"median_seconds": round(statistics.median(times), 2),
                                                 "runs": [round(t, 2) for t in times]}

    if "usable" in sections:
        results["usable"] = {f"{image} {what}": round(time_to_usable(tags[image], what), 1)
                             for image, what in (("base", "lab"), ("code-server", "lab"), ("code-server", "vscode"),
                                                 ("rstudio", "shiny"))}

    for layout in (CODERCOM, LINUXSERVER) if "migration" in sections else ():
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

    return write_reports(results)


def write_reports(results: dict) -> int:
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
    for image, folders in r.get("largest_folders", {}).items():
        lines += ["", f"| {image}: largest folders | MB |", "|---|---|"]
        lines += [f"| {folder} | {mb} |" for folder, mb in folders]
    if r.get("proxy"):
        lines += ["", "| proxied through /proxy/<port>/ (code-server image) | direct (MB/s) | proxied (MB/s) | "
                  "proxied ÷ direct | Jupyter's peak memory growth (MB) |", "|---|---|---|---|---|"]
        lines += [f"| {what} | {p['direct_mb_s']} | {p['proxied_mb_s']} | {p['ratio']} | {p['memory_growth_mb']} |"
                  for what, p in r["proxy"].items()]
    if r.get("slow_clients"):
        lines += ["", "| a browser reading nothing for 30 s (code-server image) | upstream | labstack |", "|---|---|---|"]
        up, ours = r["slow_clients"]["upstream"], r["slow_clients"]["labstack"]
        rows = [("Jupyter's peak growth, 500 MB websocket stream (MB)", lambda f: f["stream"]["growth_mb"]),
                ("... the stream arrived whole once read", lambda f: f["stream"]["complete"]),
                ("Jupyter's peak growth, terminal printing 400 MB (MB)", lambda f: f["terminal"]["growth_mb"]),
                ("websocket throughput, reading browser (MB/s)", lambda f: f["websocket_mb_s"]),
                ("... proxied ÷ direct", lambda f: f["websocket_ratio"]),
                ("1 GB limit: Jupyter and its kernel alive after a terminal printing 2 GB, 60 s",
                 lambda f: f["limit_1g"]["terminal_2gb_60s"]),
                ("1 GB limit: ... after a 2 GB websocket stream, 60 s", lambda f: f["limit_1g"]["stream_2gb_60s"])]
        lines += [f"| {label} | {value(up)} | {value(ours)} |" for label, value in rows]
    if r.get("idle_memory"):
        lines += ["", "| idle, every app started | container (MB) | Jupyter (MB) | apps |", "|---|---|---|---|"]
        lines += [f"| {name} | {m['container_mb']} | {m['jupyter_mb']} | {', '.join(m['apps']) or '-'} |"
                  for name, m in r["idle_memory"].items()]
    if r.get("load"):
        f = r["load"]
        lines += ["", f"Load on one code-server container for {f['seconds']} s: {f['clients']} clients fetching VS Code's "
                  f"assets and proxied pages, {f['websockets']} websockets echoing: {f['requests']} requests, "
                  f"{f['requests_per_second']}/s, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, errors {f['errors']}; "
                  f"{f['websocket_echoes']} echoes, p99 {f['websocket_p99_ms']} ms; Jupyter's CPU {f['jupyter_cpu_percent']}%; "
                  f"the {f['bundle_loads']} cold loads of VS Code's bundles before it: p99 {f['bundle_p99_ms']} ms."]
    if r.get("load_baseline"):
        f, b = r["load"], r["load_baseline"]
        lines += ["", f"The baseline's image under the same load: p99 {b['p99_ms']} ms; its cold loads of VS Code's bundles: "
                  f"p99 {b['bundle_p99_ms']} ms (today ÷ baseline {round(f['bundle_p99_ms'] / b['bundle_p99_ms'], 2)})."]
    for where, cases in r.get("first_use", {}).items():
        lines += ["", f"| first use from {where} (s since {'docker run' if where == 'docker run' else 'the spawn request'}) | "
                  + " | ".join(PHASES) + " | usable ÷ baseline's |", "|---" * (len(PHASES) + 2) + "|"]
        for case, phases in cases.items():
            which, what = case.split(" ", 1)
            if "failed" in phases:
                lines.append(f"| {case} | failed: {phases['failed']} |")
                continue
            before = cases.get(f"baseline {what}", {}).get("usable")  # None where the baseline failed
            ratio = round(phases["usable"] / before, 2) if before and which == "today" else ""
            lines.append(f"| {case} | " + " | ".join(str(phases[p]) for p in PHASES) + f" | {ratio} |")
        lines.append(f"(each row: of {STARTS} runs, the one with the median time to usable)")
    if r.get("recovery"):
        lines += ["", "| app killed (SIGKILL) | back after (s) |", "|---|---|"]
        lines += [f"| {what} | {seconds} |" for what, seconds in r["recovery"].items()]
    if r.get("beyond"):
        b = r["beyond"]
        lines += ["", f"On Docker {b['engine']} with buildx (scripts/start-engine26), cold (only the base image, no build "
                  f"cache): the graph by `docker buildx bake` {b['bake_seconds']} s, by `build.py build` one after the "
                  f"other {b['sequential_seconds']} s (bake ÷ sequential {b['bake_over_sequential']}); repo2docker "
                  f"building a repository on the code-server image {b['repo2docker_seconds']} s."]
    lines += ["", "| migration (cold) | time (s) | copied from mounts (MB) | adds to the commit (MB) |",
              "|---|---|---|---|"]
    for layout, m in r["migration"].items():
        lines.append(f"| {layout}-style container | {m['seconds_cold']} | {m['copied_from_mounts_mb']} | {m['adds_mb']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
