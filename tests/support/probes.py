"""Probes every image shares: what the proxy must serve and refuse."""
from __future__ import annotations

import fnmatch
import json

import requests

from labstack.graph import images_dir, load_graph
from jupyter_container import JupyterContainer, poll_until

# Run inside the image: the server names jupyter-server-proxy should list, read from the image's own
# config (our drop-ins) and the installed packages' entry points, independently of the running server.
EXPECTED_SERVERS_SCRIPT = r"""
import json
from importlib.metadata import entry_points
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("jupyter_server_config.py", path="/etc/jupyter").load_config()
names = set(config.ServerProxy.servers.keys()) if "servers" in config.ServerProxy else set()
names |= {ep.name for ep in entry_points(group="jupyter_serverproxy_servers")}
print(json.dumps(sorted(names)))
"""


# Run inside the image as the server's user: of what the server's main modules import from the Jupyter
# environment, the files whose bytecode is missing or stale (mtime and size against the source), which
# that user could never write, so its server would compile them at every start.
UNCOMPILED_SCRIPT = r"""
import importlib.util, os, sys
import jupyter_server.serverapp, jupyterlab.labapp, jupyter_server_proxy, jupyterhub.singleuser.extension
import labstack_proxy, ipykernel.kernelapp
def fresh(source):
    try:
        header, stat = open(importlib.util.cache_from_source(source), "rb").read(16), os.stat(source)
    except OSError:
        return False
    flags = int.from_bytes(header[4:8], "little")
    return flags != 0 or (int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
                          and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF)
files = {m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").endswith(".py")}
files = sorted(f for f in files if f.startswith(sys.prefix))
print(len(files), *[f for f in files if not fresh(f)])
"""


def uncompiled_server_modules(jupyter: JupyterContainer) -> tuple[int, list[str]]:
    """(how many of the environment's modules the server's main modules import, those without fresh
    bytecode)."""
    count, *missing = jupyter.exec(["/opt/jupyter/bin/python", "-c", UNCOMPILED_SCRIPT]).strip().splitlines()[-1].split()
    return int(count), missing


def servers_info_names(jupyter: JupyterContainer) -> list[str]:
    response = jupyter.get("/server-proxy/servers-info")
    assert response.status_code == 200, response.text
    return sorted(server["name"] for server in response.json()["server_processes"])


def expected_server_names(jupyter: JupyterContainer) -> list[str]:
    return json.loads(jupyter.exec(["python", "-c", EXPECTED_SERVERS_SCRIPT]).strip().splitlines()[-1])


def process_uids(jupyter: JupyterContainer, pattern: str) -> set[int]:
    """uids of the container's processes whose command line contains pattern."""
    uids = set()
    for line in jupyter.exec(["ps", "-eo", "uid=,args="]).splitlines():
        uid, _, args = line.strip().partition(" ")
        if pattern in args and "ps -eo" not in args:
            uids.add(int(uid))
    return uids


def assert_refused(jupyter: JupyterContainer, path: str) -> None:
    """Without the token, path must neither be served nor upgraded to a websocket."""
    response = jupyter.get(path, token=False)
    assert response.status_code in (302, 401, 403), (path, response.status_code)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"], response.headers["Location"]
    assert jupyter.websocket_status(path, token=False) in (302, 401, 403)


# Run inside the image as the server's user (root in a container lacks CAP_SYS_PTRACE, so it cannot
# read another user's /proc/PID/fd): TCP ports in LISTEN state that belong to the container's own processes.
# With host networking /proc/net/tcp lists the whole host, so match the sockets' inodes to our pids.
LISTENING_SCRIPT = r"""
import json, os
listening = {}
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":
            address, port = fields[1].rsplit(":", 1)
            listening[fields[9]] = (address, int(port, 16))
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
    except OSError:
        continue
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            address, port = listening[target[8:-1]]
            found.append({"port": port, "address": address, "cmd": cmd[:120]})
print(json.dumps(found))
"""


def answers_on_one_connection(host: str, port: int, requests_: list[tuple[str, str, dict]]) -> list[int]:
    """Each (method, path, headers) sent in turn on one kept-alive connection, as a browser or the hub's
    proxy sends them; the statuses. A server that closed the connection after an answer makes the next
    request fail (http.client's RemoteDisconnected): Tornado closes one answered before its request was
    read, and its client learns of it only by losing its next request."""
    import http.client
    import time

    connection = http.client.HTTPConnection(host, port, timeout=30)
    statuses = []
    try:
        for method, path, headers in requests_:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            time.sleep(0.3)  # time for a closing server to have closed
    finally:
        connection.close()
    return statuses


def listening_sockets(jupyter: JupyterContainer) -> list[dict]:
    """[{port, address (hex, as in /proc/net/tcp), cmd}] for TCP listeners of the container's processes."""
    return json.loads(jupyter.exec(["python", "-c", LISTENING_SCRIPT]).strip().splitlines()[-1])


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1


def app_sockets(jupyter: JupyterContainer, sockets: list[dict] | None = None) -> list[dict]:
    """The container's TCP listeners (`sockets`, when already read) but Jupyter's own server port, whose
    address the test chose (loopback with host networking, the container's own on a bridge, behind the
    token either way)."""
    return [s for s in (listening_sockets(jupyter) if sockets is None else sockets) if s["port"] != jupyter.listen_port]


def assert_home_belongs_to(jupyter: JupyterContainer, user: str = "jovyan") -> None:
    """Nothing in the image's home may belong to another user (root-owned files break Jupyter)."""
    others = jupyter.exec(["find", "/home/" + user, "!", "-user", user], user="root").strip()
    assert others == "", others


def ws_url(jupyter: JupyterContainer, path: str) -> str:
    """A websocket's URL on the server (a container's, or a hub user's under /user/<name>/)."""
    return "ws" + jupyter.url(path)[len("http"):]


def start_kernel(jupyter: JupyterContainer, kernel_name: str) -> str:
    """Start a kernel over REST; its id."""
    started = requests.post(jupyter.url("/api/kernels"), json={"name": kernel_name}, timeout=60,
                            headers={"Authorization": f"token {jupyter.token}"})
    assert started.status_code == 201, started.text
    return started.json()["id"]


def send_code(jupyter: JupyterContainer, kernel_id: str, code: str, timeout: float = 30):
    """Open the kernel's websocket and send it code to run; the open websocket and the request's msg_id."""
    import uuid

    import websocket  # websocket-client

    ws = websocket.create_connection(ws_url(jupyter, f"/api/kernels/{kernel_id}/channels"),
                                     header=[f"Authorization: token {jupyter.token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))
    return ws, msg_id


def messages_until(ws, deadline: float, most: int = 1000):
    """The JSON messages a websocket sends until the deadline (at most `most` of them): each wait for
    one ends at the deadline too."""
    import time

    import websocket  # websocket-client

    for _ in range(most):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ws.settimeout(left)
        try:
            # control frames too: recv() answers the server's pings and waits on, so a server that pings
            # more often than the time left (Jupyter's kernels: every 30 s) would hold it past the deadline
            opcode, frame = ws.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            yield json.loads(frame.data)


def execute_in_kernel(jupyter: JupyterContainer, kernel_name: str, code: str, timeout: float = 90) -> str:
    """Start a kernel over REST, run code over the kernel websocket, return its text/plain result."""
    import time

    kernel_id = start_kernel(jupyter, kernel_name)
    ws, msg_id = send_code(jupyter, kernel_id, code, timeout)
    try:
        for message in messages_until(ws, time.monotonic() + timeout):
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] in ("execute_result", "display_data"):
                return message["content"]["data"]["text/plain"]
            if message["msg_type"] == "error":
                raise AssertionError(f"kernel error: {message['content']}")
        raise AssertionError(f"no result from the {kernel_name} kernel in {timeout}s")
    finally:
        ws.close()
        requests.delete(jupyter.url(f"/api/kernels/{kernel_id}"), timeout=30,
                        headers={"Authorization": f"token {jupyter.token}"})


def start_in_kernel(jupyter: JupyterContainer, kernel_name: str, code: str) -> str:
    """Start a kernel and send it code to run, without waiting for any answer (code that never returns,
    or kills its kernel); the kernel's id."""
    kernel_id = start_kernel(jupyter, kernel_name)
    ws, _ = send_code(jupyter, kernel_id, code)
    ws.close()
    return kernel_id


def run_in_terminal(jupyter: JupyterContainer, command: str, timeout: float = 30, greeting: bool = False):
    """Open a Jupyter terminal over REST, type command, return what it printed between two markers; with
    greeting, (what the new terminal printed before the command's output, that output)."""
    import time

    import requests
    import websocket  # websocket-client

    headers = {"Authorization": f"token {jupyter.token}"}
    name = requests.post(jupyter.url("/api/terminals"), headers=headers, timeout=30).json()["name"]
    ws = websocket.create_connection(ws_url(jupyter, f"/terminals/websocket/{name}"),
                                     header=[f"Authorization: token {jupyter.token}"], timeout=timeout)
    try:
        ws.send(json.dumps(["stdin", f"echo BEGIN-$((6*7)); {command}; echo END-$((6*7))\r"]))
        output = ""
        # the markers are computed, so the echoed command line can't match them
        for message in messages_until(ws, time.monotonic() + timeout):
            if message[0] == "stdout":
                output += message[1]
            if "END-42" in output:
                break
        assert "BEGIN-42" in output and "END-42" in output, output[-2000:]
        before, after = output.split("BEGIN-42", 1)
        said = after.split("END-42", 1)[0].strip()
        return (before, said) if greeting else said
    finally:
        ws.close()
        requests.delete(jupyter.url(f"/api/terminals/{name}"), headers=headers, timeout=30)


def build_py(*args: str, env: dict | None = None, timeout: int = 1800):
    """Run build.py as a user would (the environment passed on unless env is given), output captured."""
    import subprocess
    import sys

    from labstack import REPO_ROOT

    return subprocess.run([sys.executable, str(REPO_ROOT / "build.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def all_tags(engine) -> set[str]:
    """Every image tag on the engine: taken before a command that must tag nothing (new_tags). One list
    call (its RepoTags), not a look at each image: the lane beside removes images meanwhile, and the
    SDK's images.list() then failed on one it had just listed (404)."""
    return {tag for image in engine.api.images() for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"}


def new_tags(engine, before: set[str], *patterns: str) -> list[str]:
    """The tags made since `before` that match a pattern (fnmatch): those the command itself would make.
    Not every new tag: the other lanes of `build.py test` (labstack/lanes.py) build and tag meanwhile."""
    return sorted(tag for tag in all_tags(engine) - before if any(fnmatch.fnmatchcase(tag, p) for p in patterns))


# What `build.py migrate` tags: its target (default OWNER/NAME-jupyter:TAG) and its temporary images.
MIGRATE_TAGS = ("*-jupyter:*", "labstack-migrate*")


def assert_refused_migration(engine, args: list[str], message: str) -> None:
    """`build.py migrate` refuses: exit 2, one line saying `message`, and no image tagged."""
    before = all_tags(engine)
    result = build_py("migrate", *args, "--network", "host")
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("build.py: error: ")
    assert new_tags(engine, before, *MIGRATE_TAGS) == []


def dockerfile_arg(layer: str, name: str) -> str:
    """The default of a build argument, as images/<layer>/Dockerfile pins it (the one place it is written)."""
    from labstack.pins import pinned

    return pinned(layer)[name]


def default_sigint() -> None:
    """preexec_fn for children that get Ctrl-C: a run started in the background or under nohup has
    SIGINT ignored, and its children inherit that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Each app's route, a text its page answers with, and the pkill -f pattern of its processes, as its layer's
# image.toml declares them ([[apps]] marker and process): what the crash tests and the bench's recovery
# figures kill and wait for.
CRASH_PROBES = {app.name: (app.route, app.marker, app.process)
                for app in load_graph(images_dir()).apps() if app.process}


def assert_app_answers(jupyter: JupyterContainer, app, timeout: float = 180) -> None:
    """An [[apps]] entry's default_url answers, with the token, with the app's marker (bounded wait)."""
    page = jupyter.wait_for(app.default_url, timeout=timeout)
    assert app.marker in page.text, f"{app.default_url} answered without {app.marker!r}: {page.text[:300]}"


def kill_app(jupyter: JupyterContainer, pattern: str) -> None:
    """SIGKILL every process whose command line matches `pattern` (a pkill -f regex), as the OOM
    killer or a crash would. Write the pattern so it does not match itself ("[c]ode" for "code")."""
    killed = jupyter.exec(["sh", "-c", f"pkill -KILL -e -f '{pattern}' || true"], user="root")
    assert "killed" in killed, f"no process matched {pattern}"


def recovery_seconds(jupyter: JupyterContainer, route: str, marker: str, pattern: str, timeout: float = 30) -> float:
    """Kill the app behind `route`, then request it until it answers 200 with `marker` again; bounded.

    The app answers first: a kill is a crash only of an app that runs (an app an earlier test crashed
    may still be starting again on a loaded machine, and pkill would then find nothing)."""
    import time

    def back():
        response = jupyter.get(route, timeout=timeout, allow_redirects=True)
        return response.status_code == 200 and marker in response.text

    poll_until(back, timeout, 0.5, lambda: f"{route} was not answering before the kill")
    kill_app(jupyter, pattern)
    started = time.monotonic()
    poll_until(back, timeout, 0.5, lambda: f"{route} did not come back within {timeout}s of the kill:\n"
               + jupyter.tracked.container.logs().decode(errors="replace")[-2000:])
    return time.monotonic() - started


def start_proxy_app(jupyter: JupyterContainer) -> int:
    """tests/support/proxy_app.py running in the container on a loopback port, as the user; its port."""
    from pathlib import Path

    app = jupyter.put_file(Path(__file__).with_name("proxy_app.py"))
    port = jupyter.free_port()
    jupyter.tracked.container.exec_run(["python3", app, str(port)], user="1000", detach=True)
    poll_until(lambda: jupyter.get(f"/proxy/{port}/status/200").status_code == 200, 30, 0.5,
               lambda: "the proxy test app did not start")
    return port


def jupyter_pid(jupyter: JupyterContainer) -> str:
    """The Jupyter server's pid in the container. Asked again when the answer is empty: once, under a
    loaded engine, `docker exec` of pgrep exited 0 with no output at all (pgrep exits 1 when nothing
    matches), and the fifty-clients test failed on an IndexError."""
    def found():
        words = jupyter.exec(["pgrep", "-o", "-f", "jupyter-lab|jupyterhub-singleuser"]).split()
        return words[0] if words else None

    return poll_until(found, 15, 1, lambda: "pgrep named no Jupyter server process in 15 s:\n"
                      + jupyter.exec(["ps", "-eo", "pid,stat,args"], check=False))


def jupyter_memory(jupyter: JupyterContainer) -> dict:
    """The Jupyter server's pid, resident memory and peak (MB); `reset_peak_memory` resets the peak.

    Read up to 3 times: once in CI under load a read came back without the lines (the exec's output
    cut short, or a pid that was not the server's), and a reading that is not there is no figure."""
    import time

    seen = []
    for _ in range(3):
        pid = jupyter_pid(jupyter)
        status = jupyter.exec(["cat", f"/proc/{pid}/status"])
        kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
              if line.startswith(("VmRSS:", "VmHWM:"))}
        if {"VmRSS", "VmHWM"} <= set(kb):
            return {"pid": pid, "rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024}
        seen.append(f"pid {pid}: {status[:300]!r}")
        time.sleep(1)
    raise AssertionError("no VmRSS/VmHWM in the Jupyter server's /proc status after 3 reads:\n" + "\n".join(seen))


def reset_peak_memory(jupyter: JupyterContainer, pid: str) -> None:
    jupyter.exec(["sh", "-c", f"echo 5 > /proc/{pid}/clear_refs"], user="root")


class PatternBody:
    """An upload body of `size` bytes made as it is sent (never whole in memory), each MiB a different byte so
    order matters; its sha256 is known once sent. requests sends it with a Content-Length (it has a len)."""

    def __init__(self, size: int):
        import hashlib

        self.size, self.sha256 = size, hashlib.sha256()

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        sent, block = 0, 0
        while sent < self.size:
            chunk = bytes([block % 251]) * min(1 << 20, self.size - sent)
            self.sha256.update(chunk)
            sent, block = sent + len(chunk), block + 1
            yield chunk


def upload(jupyter: JupyterContainer, method: str, path: str, size: int) -> tuple[requests.Response, str]:
    """Send `size` bytes to path with the token; the answer and the sha256 of what was sent."""
    body = PatternBody(size)
    response = requests.request(method, jupyter.url(path), data=body, timeout=600,
                                headers={"Authorization": f"token {jupyter.token}"})
    return response, body.sha256.hexdigest()


def websocket_stream_seconds(url: str, headers: list[str], size: int) -> float:
    """Seconds to take `size` bytes from the test app's /ws/stream/ at url (a websocket), all of them."""
    import time

    import websocket  # websocket-client

    ws = websocket.create_connection(url, header=headers, timeout=60)
    try:
        started, received = time.monotonic(), 0
        while True:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            received += len(data)
        seconds = time.monotonic() - started
    finally:
        ws.close()
    assert received == size, f"the websocket brought {received} of {size} bytes"
    return seconds


def probe_wheel(folder, value: str):
    """A small local wheel, as a user would pip install --user: one module whose VALUE is `value`, and
    a console script, `labstackprobe`, that prints it (pip puts it in ~/.local/bin)."""
    return local_wheel(folder, "labstackprobe", "1.0", f"VALUE = {value!r}\n\ndef main():\n    print(VALUE)\n",
                       scripts={"labstackprobe": "labstackprobe:main"})


def local_wheel(folder, name: str, version: str, module: str, requires=(), scripts=None, requires_python=None):
    """A pure-Python wheel made here (PyPI's changes can't move it): module `name` holding `module`'s
    text, its Requires-Dist, its console scripts {command: "module:function"}, its Requires-Python."""
    import zipfile

    stem = name.replace("-", "_")
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    info = f"{stem}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {requirement}\n" for requirement in requires)
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    files = {f"{stem}.py": module, f"{info}/METADATA": metadata,
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: labstack\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    if scripts:
        files[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{command} = {target}\n" for command, target in scripts.items())
    files[f"{info}/RECORD"] = "".join(f"{file},,\n" for file in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for file, text in files.items():
            wheel.writestr(file, text)
    return path
