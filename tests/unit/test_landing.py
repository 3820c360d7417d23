"""labstack_proxy.landing: the app the default URL opens starts with the server, on routes made by
jupyter-server-proxy's own make_handlers in a real Tornado application; other apps stay on demand."""
import asyncio
import logging
import sys
from types import SimpleNamespace

import pytest

pytest.importorskip("jupyter_server_proxy", reason="pip install -r requirements-dev.txt")
from jupyter_server_proxy.config import ServerProcess, make_handlers  # noqa: E402
from tornado import web  # noqa: E402

from labstack_proxy import landing  # noqa: E402

BASE = "/user/alice/"


@pytest.mark.parametrize("default_url, expected", [
    ("/vscode/", "vscode"), ("/vscode/?folder=/home/jovyan", "vscode"), ("vscode", "vscode"),
    ("/r/shiny/app/", "r/shiny"),  # the longest route that opens it
    ("/lab", None), ("/vscodex/", None), ("", None), (None, None),
])
def test_the_app_a_default_url_opens(default_url, expected):
    assert landing.landing_app(default_url, ["vscode", "r", "r/shiny", "rstudio"]) == expected


def application(servers):
    processes = [ServerProcess(name=name, command=command, timeout=20) for name, command in servers.items()]
    return web.Application(make_handlers(BASE, processes), base_url=BASE, default_url="/lab")


def test_named_apps_are_read_from_upstreams_routes():
    app = application({"vscode": ["true"], "r/shiny": ["true"]})
    apps = landing.named_apps(app)
    assert sorted(apps) == ["r/shiny", "vscode"]
    assert all("state" in kwargs for _, kwargs in apps.values())


def serverapp(app):
    return SimpleNamespace(web_app=app, log=logging.getLogger("test"))


def test_the_landing_app_is_started_with_the_server_and_the_others_are_not(monkeypatch, tmp_path):
    started = tmp_path / "started"
    # an app that answers HTTP on the port upstream gives it, and says it started
    command = [sys.executable, "-c", f"import http.server, sys, pathlib; pathlib.Path({str(started)!r}).write_text('yes'); "
               "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()",
               "{port}"]
    app = application({"vscode": command, "shiny": ["false"]})
    monkeypatch.setenv("JUPYTERHUB_DEFAULT_URL", "/vscode/")

    async def start_and_stop():
        name = await landing.start_landing_app(serverapp(app))
        state = landing.named_apps(app)["vscode"][1]["state"]
        running = "proc" in state and state["proc"].running
        await state["proc"].terminate()
        return name, running, "proc" in landing.named_apps(app)["shiny"][1]["state"]

    name, running, shiny_started = asyncio.run(asyncio.wait_for(start_and_stop(), 30))
    assert (name, running, shiny_started) == ("vscode", True, False)
    assert started.read_text() == "yes"


def test_a_default_url_of_no_app_starts_nothing(monkeypatch):
    app = application({"vscode": ["false"]})
    monkeypatch.setenv("JUPYTERHUB_DEFAULT_URL", "/lab")
    assert asyncio.run(landing.start_landing_app(serverapp(app))) is None
    assert "proc" not in landing.named_apps(app)["vscode"][1]["state"]
