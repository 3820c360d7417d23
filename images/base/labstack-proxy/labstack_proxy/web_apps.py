"""The web apps a person started in their server, found by the ports their processes listen on, each with
the link that opens it through Jupyter's proxy: GET {base_url}labstack/web-apps (JSON).

A web app is a port that answers HTTP (GET /: its page also shows a Dash or Gradio app whose path was set
for another port, app_paths): a kernel's channels (ZeroMQ, one more than its connection file
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
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .app_paths import variables

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


def first_page(address: str, port: int, timeout: float = 1.0, most: int = 1 << 20) -> str | None:
    """What the port answers GET / with (its first MB; one redirect on the same port followed, as
    `bokeh serve` sends / to its app's page), within about `timeout` seconds per step; None when it
    doesn't answer HTTP."""
    import http.client
    from urllib.parse import urljoin

    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    path = "/"
    for _ in range(2):
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            location = response.getheader("Location") or ""
            body = response.read(most).decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()
        if response.status not in (301, 302, 303, 307, 308) or "//" in location or path != "/":
            return body
        path = urljoin("/", location)
    return body


DASH_CONFIG = re.compile(r'<script id="_dash-config" type="application/json"[^>]*>(.*?)</script>', re.S)
GRADIO_CONFIG = re.compile(r"window\.gradio_config = (\{.*?\});</script>", re.S)


# `bokeh serve`'s page asks for BokehJS at the server's root; Panel's, on Bokeh too, asks relative to it.
BOKEH_AT_THE_ROOT = re.compile(r'src="/static/js/bokeh')
# What it then needs: its own prefix, served unstripped (/proxy/absolute/), and the browser's origin
# (HOST: where the person opens Jupyter, which only the browser knows; the Running panel fills it in).
BOKEH_FLAG = "--prefix {base}proxy/absolute/{port} --allow-websocket-origin HOST"


def setting_needed(page: str, base_url: str, port: int) -> str:
    """For an app whose page asks for its files under another path than its link's, what to start it
    with, the path filled in: a Dash or Gradio app on another port than the one labstack_proxy.app_paths
    set the path for (the variable), `bokeh serve` (the flag); "" when it needs none."""
    if BOKEH_AT_THE_ROOT.search(page):
        return BOKEH_FLAG.format(base=base_url, port=port)
    needed = variables(base_url, port)
    for pattern, key, name in ((DASH_CONFIG, "requests_pathname_prefix", "DASH_REQUESTS_PATHNAME_PREFIX"),
                               (GRADIO_CONFIG, "root", "GRADIO_ROOT_PATH")):
        found = pattern.search(page)
        if not found:
            continue
        try:
            value = json.loads(found.group(1)).get(key) or "/"
        except (ValueError, AttributeError):
            return ""
        if urlsplit(value).path.rstrip("/") != needed[name].rstrip("/"):
            return f"{name}={needed[name]}"
    return ""


def web_apps(server_pid: int, kernels: dict[int, set[int]], base_url: str, proc: str = "/proc") -> list[dict]:
    """The apps a person started, one per port: port, address, command, url, and (for an app that needs
    it) the variable to start it with ("flag")."""
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
        page = first_page(listener.address, listener.port)
        if page is None:
            continue
        started = command(proc, pid)
        # started with its prefix as BOKEH_FLAG says: served unstripped
        absolute = f"{base_url}proxy/absolute/{listener.port}"
        apps[listener.port] = {
            "port": listener.port, "address": listener.address, "command": started[:200],
            "url": f"{absolute}/" if absolute in started else f"{base_url}proxy/{listener.port}/",
            "flag": setting_needed(page, base_url, listener.port),
            # an app a kernel serves itself (Gradio's launch(), Dask's dashboard) stops with its kernel
            "pid": pid, "stoppable": pid not in kernels,
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
        async def listed(self) -> list[dict]:
            from tornado.ioloop import IOLoop

            # each candidate port is asked for its page (up to a second): not on the server's loop
            return await IOLoop.current().run_in_executor(None, web_apps, os.getpid(),
                                                          kernel_ports(self.kernel_manager), self.base_url)

        @web.authenticated
        async def get(self, port: str | None = None):
            apps = await self.listed()
            if port is not None:
                apps = [app for app in apps if app["port"] == int(port)]
                if not apps:
                    raise web.HTTPError(404, f"no web app you started listens on port {port}")
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"apps": apps}))

        @web.authenticated
        async def delete(self, port: str):
            """Stop an app a person started from a terminal (SIGTERM, as Ctrl-C's neighbour): the
            Running panel's Stop."""
            import signal

            app = next((app for app in await self.listed() if app["port"] == int(port)), None)
            if app is None:
                raise web.HTTPError(404, f"no web app you started listens on port {port}")
            if not app["stoppable"]:
                raise web.HTTPError(409, f"port {port} is served by a notebook's kernel: stop it there")
            os.kill(app["pid"], signal.SIGTERM)
            self.set_status(204)
            self.finish()

    return [(f"{base_url}labstack/web-apps/?", WebAppsHandler),
            (f"{base_url}labstack/web-apps/(\\d+)", WebAppsHandler)]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.web_app.add_handlers(".*$", handlers(serverapp.web_app.settings.get("base_url", "/")))
