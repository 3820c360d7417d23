"""The web apps a person started (labstack_proxy.web_apps): found by their listening ports on this
machine's real /proc, told apart from Jupyter's own and the image's apps by how they were started."""
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

from labstack_proxy.web_apps import _address, listeners, setting_needed, web_apps

# a web app: answers HTTP on a free port, which it prints first
LISTEN = ("import http.server, sys; s = http.server.HTTPServer((sys.argv[1], 0), http.server.SimpleHTTPRequestHandler); "
          "print(s.server_port, flush=True); s.serve_forever()")


def wait_for_port(read_line) -> int:
    line = read_line()
    assert line.strip().isdigit(), line
    return int(line)


@pytest.fixture
def started():
    """start(how, address) -> (pid, port) of a process listening on a free port; killed at the end."""
    pids = []

    def start(how: str, address: str = "127.0.0.1", *words: str):
        if how == "terminal":  # a pty of its own, as JupyterLab's and VS Code's terminals give
            pid, master = pty.fork()
            if pid == 0:
                os.execv(sys.executable, [sys.executable, "-c", LISTEN, address, *words])
            pids.append(pid)
            buffer = b""
            deadline = time.monotonic() + 20
            while b"\n" not in buffer and time.monotonic() < deadline:
                buffer += os.read(master, 100)
            return pid, int(buffer.split()[0])
        process = subprocess.Popen([sys.executable, "-c", LISTEN, address], stdout=subprocess.PIPE, text=True,
                                   start_new_session=True)  # no terminal: as the image's apps run
        pids.append(process.pid)
        return process.pid, wait_for_port(process.stdout.readline)

    yield start
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def ports(apps):
    return {app["port"]: app for app in apps}


def test_an_app_started_in_a_terminal_is_listed_with_its_link(started):
    pid, port = started("terminal")
    found = ports(web_apps(server_pid=os.getpid(), kernels={}, base_url="/user/alice/"))
    assert port in found, found
    assert found[port]["url"] == f"/user/alice/proxy/{port}/"
    assert found[port]["address"] == "127.0.0.1" and found[port]["flag"] == ""


def test_an_app_the_image_runs_is_not_a_persons(started):
    """Started by the server (this test stands for it) with no terminal or kernel on the way: what
    jupyter-server-proxy starts (VS Code, Shiny)."""
    pid, port = started("no terminal")
    assert port not in ports(web_apps(server_pid=os.getpid(), kernels={}, base_url="/"))


KERNEL = r"""
import http.server, socket, subprocess, sys, threading, time
def listen():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); return s
channel, internal = listen(), listen()  # channels: named in the connection file, and not
dashboard = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=dashboard.serve_forever, daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], "127.0.0.1"], stdout=subprocess.PIPE, text=True)
print(channel.getsockname()[1], internal.getsockname()[1], dashboard.server_port, child.stdout.readline().strip(),
      flush=True)
time.sleep(120)
"""


def test_a_kernels_channels_are_left_out_and_what_it_serves_or_starts_is_listed():
    """Dask's dashboard and Gradio's launch() are served by the kernel itself; `!tensorboard` by a child."""
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, LISTEN], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # no terminal, as a kernel runs
    try:
        channel, internal, dashboard, child = (int(port) for port in kernel.stdout.readline().split())
        found = ports(web_apps(server_pid=os.getpid(), kernels={kernel.pid: {channel}}, base_url="/"))
        assert dashboard in found and child in found, (dashboard, child, found)
        # the Running panel stops what a kernel started (its own process), not the kernel itself
        assert not found[dashboard]["stoppable"] and found[child]["stoppable"]
        assert channel not in found and internal not in found  # no page: it does not answer HTTP
        # the same processes, with nothing saying they are a kernel's: the image's, not a person's
        found = ports(web_apps(server_pid=os.getpid(), kernels={}, base_url="/"))
        assert not {channel, internal, dashboard, child} & set(found)
    finally:
        os.killpg(kernel.pid, signal.SIGKILL)
        kernel.wait()


def test_the_servers_own_port_is_left_out(started):
    pid, port = started("terminal")
    assert port not in ports(web_apps(server_pid=pid, kernels={}, base_url="/"))


def test_a_process_that_left_the_server_is_a_persons(started):
    """Left running after its terminal closed, it is no longer under the server: a person's."""
    pid, port = started("no terminal")
    assert port in ports(web_apps(server_pid=-1, kernels={}, base_url="/"))


def test_an_app_on_every_address_says_so(started):
    pid, port = started("terminal", "0.0.0.0")
    found = ports(web_apps(server_pid=os.getpid(), kernels={}, base_url="/"))
    assert found[port]["address"] == "0.0.0.0"


def test_every_app_opens_at_proxy_port_and_what_started_it_is_shown(started):
    """Bokeh included: labstack_proxy.app_paths makes its page ask nothing of the server's root."""
    pid, port = started("terminal", "127.0.0.1", "bokeh", "serve", "app.py")
    app = ports(web_apps(server_pid=os.getpid(), kernels={}, base_url="/user/alice/"))[port]
    assert app["url"] == f"/user/alice/proxy/{port}/" and app["flag"] == ""
    assert app["command"].startswith(sys.executable)  # what started it, as ps shows it


DASH_PAGE = '''<footer><script id="_dash-config" type="application/json">{"url_base_pathname": null,
"requests_pathname_prefix": "%s", "ui": false}</script></footer>'''
GRADIO_PAGE = '''<script>window.gradio_config = {"version": "6.31.0", "root": "%s", "x": "\\u003c/script>"};</script>'''


def test_a_dash_or_gradio_app_set_for_another_port_is_given_the_variable_for_its_own():
    """Gradio moves to 7861 when 7860 is taken; the variables were set for 7860."""
    dash = DASH_PAGE % "/user/alice/proxy/8050/"
    assert setting_needed(dash, "/user/alice/", 8050) == ""
    assert setting_needed(dash, "/user/alice/", 8051) == "DASH_REQUESTS_PATHNAME_PREFIX=/user/alice/proxy/8051/"
    gradio = GRADIO_PAGE % "http://127.0.0.1:7861/user/alice/proxy/7860"
    assert setting_needed(gradio, "/user/alice/", 7860) == ""
    assert setting_needed(gradio, "/user/alice/", 7861) == "GRADIO_ROOT_PATH=/user/alice/proxy/7861"
    assert setting_needed(DASH_PAGE % "/", "/", 8050) == "DASH_REQUESTS_PATHNAME_PREFIX=/proxy/8050/"


def test_bokeh_serve_is_given_its_flag_and_panel_on_bokeh_nothing():
    bokeh = '<script type="text/javascript" src="/static/js/bokeh.min.js?v=3f2a"></script>'
    assert setting_needed(bokeh, "/user/alice/", 5006) == (
        "--prefix /user/alice/proxy/absolute/5006 --allow-websocket-origin HOST")
    panel = '<script type="text/javascript" src="static/js/bokeh.min.js?v=3f2a"></script>'
    assert setting_needed(panel, "/user/alice/", 5006) == ""


def test_any_other_page_needs_nothing():
    assert setting_needed("<html><script>window.gradio_config = not json;</script></html>", "/", 7860) == ""
    assert setting_needed("<html>Streamlit</html>", "/", 8501) == ""


def test_addresses_are_read_as_the_kernel_writes_them():
    assert _address("0100007F") == "127.0.0.1"
    assert _address("00000000000000000000000001000000") == "::1"
    assert _address("00000000000000000000000000000000") == "::"
    assert all(listener.port > 0 for listener in listeners())
