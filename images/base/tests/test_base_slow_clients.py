"""A slow or stalled browser never swells Jupyter (labstack_proxy/flow.py).

The client is what a browser on a bad network or a suspended laptop is: a websocket with a 4 KB receive
buffer that reads nothing for STALL_SECONDS. Upstream reads everything the app (or the terminal's program)
sends and holds it for the client; with flow control Jupyter holds at most a few MB per direction, and the
sender waits. Sizes are reduced here; `make bench` runs the 500 MB case against upstream's path.
"""
import hashlib
import json
import os
import socket
import time

import pytest
import requests

from jupyter_container import JupyterContainer, poll_until
from probes import jupyter_memory, reset_peak_memory, start_kernel, start_proxy_app

# Flow control is base's labstack_proxy, the same files in every image built on it (no layer sets its
# bound): a mechanism of the layer's files, tested once, on base, as base's streaming tests are.
pytestmark = pytest.mark.layer_image

# Big enough that upstream's path holds well past GROWTH_MB (it reads the app's stream whole within the
# stall; a client sends 96 MB to an app that does not read in about as long, half of it held by then),
# small enough to pass through in seconds once the client reads.
STREAM_MB = int(os.environ.get("LABSTACK_SLOW_CLIENT_MB", "64"))
SENT_MB = int(os.environ.get("LABSTACK_SLOW_APP_MB", "96"))
# seq 1 N in a terminal: about 16 MB (a terminal prints about 3 MB/s here), past what flow control lets it
# print to a stalled browser (bound_mb() + HELD_BY_KERNEL_MB).
SEQ_LINES = int(os.environ.get("LABSTACK_SLOW_TERMINAL_LINES", "2000000"))
STALL_SECONDS = float(os.environ.get("LABSTACK_SLOW_CLIENT_STALL", "3"))
GROWTH_MB = 32  # Jupyter's peak memory growth allowed for one stalled client
HELD_BY_KERNEL_MB = 8  # socket buffers a stalled client's connection fills first (Linux: up to 4 MB each way)
SLOW = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]  # set before connecting: a 4 KB TCP window


def bound_mb() -> float:
    """Flow control's bound (LABSTACK_WEBSOCKET_BUFFER_MB; labstack_proxy/flow.py's default, 4)."""
    return float(os.environ.get("LABSTACK_WEBSOCKET_BUFFER_MB", "4"))


@pytest.fixture(scope="module")
def jupyter(image, spec):
    # Under a hub's memory limit, as a user's server runs. LABSTACK_WEBSOCKET_BUFFER_MB=0 (upstream's
    # path, no flow control) shows these tests failing; `make bench` measures both.
    setting = {name: os.environ[name] for name in ["LABSTACK_WEBSOCKET_BUFFER_MB"] if name in os.environ}
    with JupyterContainer(image(spec), environment=setting, run_options={"mem_limit": "1g"}) as jupyter:
        yield jupyter


@pytest.fixture(scope="module")
def kernel(jupyter):
    """A running kernel, a person's work the server must keep: a stalled browser never risks it."""
    return start_kernel(jupyter, "python3")


@pytest.fixture(scope="module")
def proxy_app(jupyter):
    return start_proxy_app(jupyter)


def connect(jupyter, path, timeout=60, slow=True):
    """A websocket to path with the token; by default a slow one (a 4 KB receive window)."""
    import websocket  # websocket-client

    return websocket.create_connection(f"ws://{jupyter.host}:{jupyter.port}{path}", timeout=timeout,
                                       sockopt=SLOW if slow else (), header=[f"Authorization: token {jupyter.token}"])


def stream_sha256(size: int) -> str:
    """The sha256 of what the test app's /ws/stream/<size> sends, message by message as it makes them."""
    from proxy_app import stream_message

    digest, index, remaining = hashlib.sha256(), 0, size
    while remaining > 0:
        message = stream_message(index, remaining)
        digest.update(message)
        remaining, index = remaining - len(message), index + 1
    return digest.hexdigest()


def growth_mb(jupyter, before) -> float:
    return jupyter_memory(jupyter)["peak_mb"] - before["rss_mb"]


def say_stalled_growth(size_mb: int, stalled: float, grown: float) -> None:
    print(f"\nlabstack: {size_mb} MB to a browser stalled {STALL_SECONDS:.0f}s: Jupyter's peak grew "
          f"{stalled:.0f} MB while stalled, {grown:.0f} MB in all")


def test_a_stalled_browser_is_sent_the_apps_websocket_whole_with_jupyter_flat(jupyter, proxy_app):
    """App → browser: the app's stream waits for the browser; once it reads, every byte arrives, in order."""
    import websocket

    size = STREAM_MB << 20
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    ws = connect(jupyter, f"/proxy/{proxy_app}/ws/stream/{size}")
    try:
        time.sleep(STALL_SECONDS)
        stalled = growth_mb(jupyter, before)
        digest, received, closed = hashlib.sha256(), 0, None
        for _ in range(size // (64 << 10) + 10):  # the stream's messages and its close, bounded
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed = True
                break
            digest.update(data)
            received += len(data)
    finally:
        ws.close()
    grown = growth_mb(jupyter, before)
    say_stalled_growth(STREAM_MB, stalled, grown)
    assert received == size and closed, f"{received} of {size} bytes, closed: {closed}"
    assert digest.hexdigest() == stream_sha256(size), "the stream arrived out of order"
    assert grown <= GROWTH_MB, f"Jupyter's peak memory grew {grown:.0f} MB for a stalled browser"


def test_a_stalled_browser_downloading_holds_back_the_app_with_jupyter_flat(jupyter, proxy_app):
    """A proxied download to a browser that stalls, then reads slowly: the app's answer waits for it
    (before the fix, the app's whole answer was read into Jupyter while the browser lagged)."""
    size = SENT_MB << 20
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    sock = socket.socket()
    for level, option, value in SLOW:
        sock.setsockopt(level, option, value)
    sock.settimeout(60)
    try:
        sock.connect((jupyter.host, jupyter.port))
        sock.sendall(f"GET /proxy/{proxy_app}/bytes/{size} HTTP/1.1\r\nHost: {jupyter.host}:{jupyter.port}\r\n"
                     f"Authorization: token {jupyter.token}\r\nConnection: close\r\n\r\n".encode())
        time.sleep(STALL_SECONDS)
        stalled = growth_mb(jupyter, before)
        received = 0
        for _ in range(size // 1024):  # bounded: the answer and its close, a few KB at a time
            data = sock.recv(64 << 10)
            if not data:
                break
            received += len(data)
    finally:
        sock.close()
    grown = growth_mb(jupyter, before)
    say_stalled_growth(SENT_MB, stalled, grown)
    assert received > size, f"{received} bytes of a {size}-byte answer and its headers"
    assert grown <= GROWTH_MB, f"Jupyter's peak memory grew {grown:.0f} MB for a stalled download"


def test_an_app_that_does_not_read_holds_back_the_browser_with_jupyter_flat(jupyter, proxy_app):
    """Browser → app: what the browser sends waits for the app (its sends block); the app gets it whole."""
    size, message = SENT_MB << 20, bytes(range(256)) * 256  # 64 KiB
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    ws = connect(jupyter, f"/proxy/{proxy_app}/ws/sink/{STALL_SECONDS}")
    try:
        for _ in range(size // len(message)):  # blocks while the app is not reading
            ws.send_binary(message)
        ws.send("end")
        answer = ws.recv()
    finally:
        ws.close()
    grown = growth_mb(jupyter, before)
    print(f"\nlabstack: {SENT_MB} MB to an app reading nothing for {STALL_SECONDS:.0f}s: Jupyter's peak grew {grown:.0f} MB")
    expected = hashlib.sha256(message * (size // len(message))).hexdigest()
    assert answer == f"{size} {expected}", answer
    assert grown <= GROWTH_MB, f"Jupyter's peak memory grew {grown:.0f} MB for an app that does not read"


def test_echo_binary_frames_and_close_codes_pass_as_before(jupyter, proxy_app):
    """What flow control must not change: text and binary messages both ways, in order, and a close code."""
    import websocket

    ws = connect(jupyter, f"/proxy/{proxy_app}/ws/echo", slow=False)
    try:
        messages = ["hello", bytes(range(256)) * 400, "é" * 70000, b"\x00" * (5 << 20)]  # the last past the bound
        for message in messages:
            ws.send_binary(message) if isinstance(message, bytes) else ws.send(message)
        assert [ws.recv() for _ in messages] == messages
        ws.send_close(4001)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4001
    finally:
        ws.shutdown()


@pytest.mark.parametrize("leaving", ["close frame", "dropped connection"])
def test_a_stalled_browser_that_leaves_ends_the_apps_stream(jupyter, proxy_app, leaving):
    """Nothing is left behind by a stalled client that goes away, saying so (a close frame it sends
    without reading further) or not (a closed laptop lid): the app's connection ends too."""
    connections = lambda: jupyter.get(f"/proxy/{proxy_app}/connections").text  # noqa: E731
    poll_until(lambda: connections() == "0", 30, 0.5, lambda: "an earlier connection to the app is still open")
    ws = connect(jupyter, f"/proxy/{proxy_app}/ws/stream/{4 << 30}")
    time.sleep(1)  # the buffers on the way are full by then
    assert connections() == "1"
    if leaving == "close frame":
        ws.send_close()
    else:
        ws.sock.close()
    poll_until(lambda: connections() == "0", 30, 0.5, lambda: f"the app is still sending after a {leaving}")
    ws.shutdown()
    assert jupyter.get("/api").status_code == 200


def test_a_stalled_terminal_waits_for_its_browser_and_loses_nothing(jupyter, kernel):
    """Jupyter's terminal: a program printing much to a stalled browser waits, as on a real terminal (its
    output stops at the bound while the browser reads nothing); once the browser reads, every line arrives
    in order, the terminal takes the next command, and the server and its kernel were never at risk."""
    headers = {"Authorization": f"token {jupyter.token}"}
    name = requests.post(jupyter.url("/api/terminals"), headers=headers, timeout=30).json()["name"]
    before = jupyter_memory(jupyter)
    reset_peak_memory(jupyter, before["pid"])
    ws = connect(jupyter, f"/terminals/websocket/{name}")
    try:
        # The markers are computed, so the echoed command line can't match them.
        ws.send(json.dumps(["stdin", f"echo BEGIN-$((6*7)); seq 1 {SEQ_LINES}; echo END-$((6*7))\r"]))
        printed_stalled = bytes_printed_while_stalled(jupyter, "seq")
        stalled = growth_mb(jupyter, before)
        output = read_terminal_until(ws, "END-42", timeout=300)
        grown = growth_mb(jupyter, before)
        printed = output.split("BEGIN-42\r\n", 1)[1].split("END-42", 1)[0]
        ws.send(json.dumps(["stdin", "echo again-$((6*7))\r"]))
        assert "again-42" in read_terminal_until(ws, "again-42", timeout=30)
    finally:
        ws.close()
        requests.delete(jupyter.url(f"/api/terminals/{name}"), headers=headers, timeout=30)
    print(f"\nlabstack: seq 1 {SEQ_LINES} ({len(printed) >> 20} MB) to a stalled terminal: it printed "
          f"{printed_stalled / 2**20:.1f} MB, then waited; Jupyter's peak grew {stalled:.0f} MB while stalled, {grown:.0f} MB in all")
    assert printed_stalled <= (HELD_BY_KERNEL_MB + bound_mb()) * 2**20, \
        f"the program printed {printed_stalled >> 20} MB to a browser that read none of it"
    lines = printed.split("\r\n")
    assert lines[-1] == "" and lines[:-1] == [str(n) for n in range(1, SEQ_LINES + 1)], \
        f"{len(lines) - 1} lines of {SEQ_LINES}, or out of order"
    assert grown <= GROWTH_MB, f"Jupyter's peak memory grew {grown:.0f} MB for a terminal's stalled browser"
    assert jupyter_memory(jupyter)["pid"] == before["pid"]
    state = requests.get(jupyter.url(f"/api/kernels/{kernel}"), headers=headers, timeout=30)
    assert state.status_code == 200 and state.json()["execution_state"] != "dead", state.text


def bytes_printed_while_stalled(jupyter, program: str) -> int:
    """Bytes `program` has written (its wchar) once it stops writing, or once it has written more than
    flow control lets it (upstream never stops it); checked every half second, for 30 s at most."""
    allowed = int((HELD_BY_KERNEL_MB + bound_mb()) * 2**20)
    pid = poll_until(lambda: jupyter.exec(["sh", "-c", f"pgrep -x {program} || true"]).strip(), 30, 0.2,
                     lambda: f"{program} did not start in the terminal")
    read_wchar = f"grep '^wchar' /proc/{pid}/io | cut -d' ' -f2 || echo ended"
    last = -1
    for _ in range(60):
        now = jupyter.exec(["sh", "-c", read_wchar]).strip()  # as the server's user: root may not read it
        if now == "ended":  # it printed everything
            return 2 * allowed
        if int(now) == last or int(now) > allowed + (4 << 20):
            return int(now)
        last = int(now)
        time.sleep(0.5)
    return last


def read_terminal_until(ws, marker: str, timeout: float) -> str:
    """The terminal's output up to `marker`, read as it comes; bounded in time."""
    import websocket

    chunks, tail, deadline = [], "", time.monotonic() + timeout
    while marker not in tail:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker} in the terminal within {timeout}s: ...{tail[-300:]!r}"
        ws.settimeout(left)
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            continue
        if message[0] == "stdout":
            chunks.append(message[1])
            tail = tail[-64:] + message[1]
    return "".join(chunks)
