"""The web apps a person started in their server, found by the ports their processes listen on, each with
the link that opens it through Jupyter's proxy: GET {base_url}labstack/web-apps (JSON).

A web app is a port that answers HTTP: a kernel's channels (ZeroMQ, one more than its connection file
names in ipykernel 7), Dask's scheduler or a database listen too, and are no page to open.

A person starts an app from a terminal (JupyterLab's or VS Code's: the process has a controlling
terminal, or had one and outlived it) or from a notebook (the kernel itself serves it, as Dask's
dashboard and Gradio's `launch()` do, or a process the kernel started). Neither is Jupyter's own: the
server's port and the ports of its kernels' channels are left out, and so are the apps the image runs
for the person (jupyter-server-proxy's servers: VS Code, Shiny, RStudio, declared apps), which the
server starts with no terminal on the way and jupyter-server-proxy lists already.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

# /proc/net/tcp's state column: LISTEN
LISTEN = "0A"
EVERY_ADDRESS = {"0.0.0.0", "::"}


@dataclass(frozen=True)
class Listener:
    port: int
    address: str  # "127.0.0.1", "::1", "0.0.0.0", "::", or another
    inode: int


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    import ipaddress

    words = [hex_address[i:i + 8] for i in range(0, 32, 8)]  # four little-endian 32-bit words
    raw = bytes.fromhex("".join(word[6:8] + word[4:6] + word[2:4] + word[0:2] for word in words))
    return str(ipaddress.IPv6Address(raw))


def listeners(proc: str = "/proc") -> list[Listener]:
    """Every TCP socket listening in this network namespace."""
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/net/{table}") as file:
                lines = file.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            address, port = fields[1].split(":")
            found.append(Listener(int(port, 16), _address(address), int(fields[9])))
    return found


def socket_owners(proc: str = "/proc") -> dict[int, int]:
    """{socket inode: pid} for the processes this user may look into."""
    owners = {}
    for pid in (name for name in os.listdir(proc) if name.isdigit()):
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(int(target[8:-1]), int(pid))
    return owners


def _stat(proc: str, pid: int) -> tuple[int, int] | None:
    """(parent pid, controlling terminal) of a process."""
    try:
        with open(f"{proc}/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[4])


def command(proc: str, pid: int) -> str:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as file:
            return " ".join(part.decode(errors="replace") for part in file.read().split(b"\0") if part)
    except OSError:
        return ""


def started_by_a_person(pid: int, kernels: set[int], server_pid: int, proc: str = "/proc") -> bool:
    """From a terminal (it has one), a kernel (or a process a kernel started), or left running after its
    terminal closed (no longer under the server: the container's init took it). What the server
    started itself, with no terminal on the way (jupyter-server-proxy's apps), is the image's."""
    seen = 0
    while seen < 64:
        if pid in kernels:
            return True
        if pid == server_pid:
            return False
        stat = _stat(proc, pid)
        if stat is None:
            return False
        parent, tty = stat
        if tty != 0:
            return True
        if parent <= 1:  # reached the container's init without passing the server
            return True
        pid, seen = parent, seen + 1
    return False


def answers_http(address: str, port: int, timeout: float = 1.0) -> bool:
    """Whether the port answers an HTTP request (a status line), within `timeout` seconds."""
    import socket

    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(b"HEAD / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return connection.recv(5) == b"HTTP/"
    except OSError:
        return False


# Frameworks whose pages ask for their files from the server's root: under a prefix they need a flag
# (found by the command that started them); the entry says which, with the path filled in.
FLAGS = {
    "bokeh serve": ("absolute", "--prefix {base}proxy/absolute/{port} --allow-websocket-origin HOST"),
}


def web_apps(server_pid: int, kernels: dict[int, set[int]], base_url: str, proc: str = "/proc") -> list[dict]:
    """The apps a person started, one per port: port, address, command, url, and (for a framework that
    needs it) the flag to add."""
    owners = socket_owners(proc)
    apps: dict[int, dict] = {}
    for listener in sorted(listeners(proc), key=lambda item: item.port):
        pid = owners.get(listener.inode)
        if pid is None or pid == server_pid or listener.port in kernels.get(pid, set()):
            continue
        if not started_by_a_person(pid, set(kernels), server_pid, proc):
            continue
        if listener.port in apps:  # IPv4 and IPv6 alike: one app
            if listener.address in EVERY_ADDRESS:
                apps[listener.port]["address"] = listener.address
            continue
        if not answers_http(listener.address, listener.port):
            continue
        started = command(proc, pid)
        route, flag = next(((route, flag) for key, (route, flag) in FLAGS.items() if key in started),
                            ("", ""))
        path = f"proxy/absolute/{listener.port}/" if route == "absolute" else f"proxy/{listener.port}/"
        apps[listener.port] = {
            "port": listener.port, "address": listener.address, "command": started[:200],
            "url": f"{base_url}{path}",
            "flag": flag.format(base=base_url, port=listener.port) if flag else "",
        }
    return list(apps.values())


def kernel_ports(kernel_manager) -> dict[int, set[int]]:
    """{kernel pid: the ports of its channels} of the server's running kernels."""
    kernels = {}
    for kernel_id in kernel_manager.list_kernel_ids():
        kernel = kernel_manager.get_kernel(kernel_id)
        pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
        if pid is None:
            continue
        info = kernel.get_connection_info()
        kernels[int(pid)] = {int(info[key]) for key in ("shell_port", "iopub_port", "stdin_port",
                                                         "control_port", "hb_port") if info.get(key)}
    return kernels


def handlers(base_url: str) -> list:
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class WebAppsHandler(APIHandler):
        @web.authenticated
        async def get(self):
            from tornado.ioloop import IOLoop

            # each candidate port is asked for a status line (up to a second): not on the server's loop
            apps = await IOLoop.current().run_in_executor(None, web_apps, os.getpid(),
                                                          kernel_ports(self.kernel_manager), self.base_url)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"apps": apps}))

    return [(f"{base_url}labstack/web-apps", WebAppsHandler)]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.web_app.add_handlers(".*$", handlers(serverapp.web_app.settings.get("base_url", "/")))
