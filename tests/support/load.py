"""Load on one container, on loopback and bounded in time and count: many clients fetching VS Code's
static assets and a proxied app's pages, while websockets (Jupyter terminals, and an echo app behind
/proxy/<port>/, the path VS Code's own websockets take) stay open and echo. Used by the tests (short)
and `make bench` (full)."""
from __future__ import annotations

import json
import re
import statistics
import threading
import time
import uuid
from urllib.parse import urljoin

import requests
import websocket  # websocket-client

from jupyter_container import JupyterContainer

MAX_REQUESTS_PER_CLIENT = 100_000  # a bound besides the time


BUNDLE_BYTES = 2 << 20  # larger assets are VS Code's bundles, which a browser keeps (max-age one year)


def http_targets(jupyter: JupyterContainer, proxy_port: int) -> tuple[list[str], list[str]]:
    """VS Code's workbench page and every static asset it names, and pages of the proxied test app: those
    a working browser asks for again and again, and the large bundles it fetches once and then caches."""
    workbench = jupyter.wait_for("/vscode/", timeout=120)
    assets = [urljoin(workbench.url, asset) for asset in sorted(set(re.findall(r'(?:src|href)="([^"]+)"', workbench.text)))]
    auth = {"Authorization": f"token {jupyter.token}"}
    bundles = [url for url in assets if len(requests.get(url, headers=auth, timeout=60).content) > BUNDLE_BYTES]
    assert bundles, "VS Code's workbench names no large bundle: has the page changed?"
    pages = [workbench.url] + [url for url in assets if url not in bundles]
    return pages + [jupyter.url(f"/proxy/{proxy_port}/bytes/20000"), jupyter.url(f"/proxy/{proxy_port}/status/200")], bundles


def jupyter_cpu_seconds(jupyter: JupyterContainer) -> float:
    from probes import jupyter_pid

    pid = jupyter_pid(jupyter)
    fields = jupyter.exec(["cat", f"/proc/{pid}/stat"]).rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def run_load(jupyter: JupyterContainer, proxy_port: int, seconds: float, clients: int = 50,
             websockets: int = 20) -> dict:
    targets, bundles = http_targets(jupyter, proxy_port)
    auth = {"Authorization": f"token {jupyter.token}"}
    latencies: list[float] = []
    bundle_latencies: list[float] = []
    echo_latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    opened = threading.Barrier(websockets + 1, timeout=120)
    warm = threading.Barrier(clients + 1, timeout=600)
    end = [0.0]

    def fetch(session: requests.Session, url: str, into: list[float]) -> None:
        started = time.monotonic()
        try:  # as a browser takes it: compressed, not decoded here (the client's CPU is not what is measured)
            with session.get(url, headers=auth, timeout=60, stream=True) as response:
                body = response.raw.read(decode_content=False)
            problem = None if response.status_code == 200 and body else f"{response.status_code} {url}"
        except requests.RequestException as error:
            problem = f"{type(error).__name__} {url}"
        with lock:
            into.append(time.monotonic() - started)
            if problem:
                errors.append(problem)

    def fetcher(index: int) -> None:
        session = requests.Session()
        for url in bundles:  # a browser opening VS Code: the bundles once, all clients at the same moment
            fetch(session, url, bundle_latencies)
        warm.wait()  # then the clocked run, all clients together
        for count in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() > end[0]:
                return
            fetch(session, targets[(index + count) % len(targets)], latencies)

    def echoer(index: int) -> None:
        ws = None
        try:
            if index % 2:  # a Jupyter terminal: a command whose output can't be the echo of what was typed
                name = requests.post(jupyter.url("/api/terminals"), headers=auth, timeout=30).json()["name"]
                ws = websocket.create_connection(f"ws://{jupyter.host}:{jupyter.port}/terminals/websocket/{name}",
                                                 header=[f"Authorization: token {jupyter.token}"], timeout=30)
            else:
                ws = websocket.create_connection(f"ws://{jupyter.host}:{jupyter.port}/proxy/{proxy_port}/ws/echo",
                                                 header=[f"Authorization: token {jupyter.token}"], timeout=30)
        except Exception as error:  # counted, and the barrier still met
            with lock:
                errors.append(f"websocket {index} did not open: {error}")
        opened.wait()
        if ws is None:
            return
        try:
            for count in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() > end[0]:
                    return
                started = time.monotonic()
                if index % 2:
                    ws.send(json.dumps(["stdin", f"echo pong-$(({count}*7))\r"]))
                    expected, seen = f"pong-{count * 7}", ""
                    for _ in range(200):
                        message = json.loads(ws.recv())
                        seen += message[1] if message[0] == "stdout" else ""
                        if expected in seen:
                            break
                    else:
                        raise AssertionError(f"terminal {index} did not answer {expected}")
                else:
                    message = f"{uuid.uuid4().hex}-{count}"
                    ws.send(message)
                    if ws.recv() != message:
                        raise AssertionError(f"echo {index} answered something else")
                with lock:
                    echo_latencies.append(time.monotonic() - started)
                time.sleep(0.2)
        except Exception as error:
            with lock:
                errors.append(f"websocket {index}: {type(error).__name__} {error}")
        finally:
            ws.close()

    end[0] = time.monotonic() + 600  # websockets open first, then the clocked run
    echoers = [threading.Thread(target=echoer, args=(i,), daemon=True) for i in range(websockets)]
    for thread in echoers:
        thread.start()
    opened.wait()
    fetchers = [threading.Thread(target=fetcher, args=(i,), daemon=True) for i in range(clients)]
    for thread in fetchers:
        thread.start()
    warm.wait()
    cpu_before, started = jupyter_cpu_seconds(jupyter), time.monotonic()
    end[0] = started + seconds
    for thread in fetchers + echoers:
        thread.join(seconds + 120)
    elapsed = time.monotonic() - started
    cpu = jupyter_cpu_seconds(jupyter) - cpu_before
    return {
        "seconds": round(elapsed, 1), "clients": clients, "websockets": websockets,
        "requests": len(latencies), "requests_per_second": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "bundle_loads": len(bundle_latencies), "bundle_p99_ms": round(percentile(bundle_latencies, 0.99) * 1000),
        "websocket_echoes": len(echo_latencies), "websocket_p99_ms": round(percentile(echo_latencies, 0.99) * 1000, 1),
        "jupyter_cpu_percent": round(100 * cpu / elapsed), "errors": len(errors), "first_errors": errors[:5],
    }
