"""First use as a person meets it, broken into phases: from `docker run` (or from the hub's spawn request)
to the container started, Jupyter answering, the app answering at its route, the first byte of the app's
page in chromium, and the app usable there (JupyterLab's launcher clickable, VS Code's editor taking
typed text, the Shiny example's output rendered). Each phase is seconds since the start.

`make bench` runs every case for today's images and a baseline's, in one run; the tests run one case,
reduced, and assert the phases only in order, never their time. Every wait is bounded; every request
goes to loopback.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jupyter_container import JupyterContainer, answers, poll_until

# What a person opens for each case: the app's route, where a profile that lands on it sends the browser.
ROUTES = {"lab": "/lab", "vscode": "/vscode/", "shiny": "/shiny/", "vscode alone": "/"}
# For through_hub's hub: after login the browser goes to the hub's home, so the clock starts the spawn.
HUB_LANDS_ON_HOME = 'c.JupyterHub.default_url = "/hub/home"\n'
PHASES = ("container started", "Jupyter answering", "app answering", "first byte", "usable")


def wait_until_usable(page, what: str, timeout: float) -> None:
    ms = timeout * 1000
    if what == "lab":
        page.locator(".jp-LauncherCard").first.click(trial=True, timeout=ms)
    elif what.startswith("vscode"):
        page.wait_for_selector(".monaco-workbench .part.editor", timeout=ms)
        new_untitled_file(page, timeout)
        page.keyboard.type("usable")
        page.wait_for_selector(".view-line:has-text('usable')", timeout=ms)
    else:
        page.wait_for_selector("#summary:has-text('labstack-shiny-ok')", timeout=ms)


def new_untitled_file(page, timeout: float) -> None:
    """A new editor through the command palette, as a person opens one. Just after start the palette
    may not list the command yet (CI saw Enter pressed on an empty list, and no editor in 180 s)."""
    from browser import run_from_vscode_palette

    run_from_vscode_palette(page, "File: New Untitled Text File", ".monaco-editor textarea",
                            attempts=6, timeout_ms=int(timeout * 1000 / 6))


class Marks(dict):
    """Phase -> seconds since `started`, written from the pollers' threads."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def mark(self, phase: str) -> None:
        self.setdefault(phase, round(time.monotonic() - self.started, 2))

    def poll(self, phase: str, check, timeout: float, interval: float = 0.1) -> threading.Thread:
        """Mark the phase once check() is truthy, in a thread of its own (bounded by timeout)."""
        def run() -> None:
            try:
                poll_until(check, timeout, interval, lambda: f"{phase}: not within {timeout}s")
                self.mark(phase)
            except Exception:  # left unmarked: ordered() says so
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def ordered(self) -> dict:
        missing = [phase for phase in PHASES if phase not in self]
        assert not missing, f"phases never reached: {missing} (reached: {dict(self)})"
        return {phase: self[phase] for phase in PHASES}


@dataclass
class _MarkedContainer(JupyterContainer):
    marks: Marks = field(default_factory=Marks)

    def wait_until_ready(self, timeout: float) -> None:
        self.marks.mark("container started")  # `docker run -d` has returned: the container runs
        poll_until(lambda: self.tracked.status() != "exited" and answers(f"{self.base_url}/api", timeout=2),
                   timeout, 0.05, lambda: f"Jupyter not ready after {timeout}s:\n{self.tracked.logs()[-3000:]}")
        self.marks.mark("Jupyter answering")


def from_docker_run(chromium, image: str, what: str, timeout: float = 180, landing: bool = True) -> dict:
    """The phases from `docker run` of image, for a profile that lands on `what` (JUPYTERHUB_DEFAULT_URL,
    as the hub sets it from the profile's default_url; `landing=False` leaves it unset, for images from
    before labstack read it); chromium is already open, as a person's is."""
    route = ROUTES[what]
    jupyter = _MarkedContainer(image, environment={"JUPYTERHUB_DEFAULT_URL": route} if landing and what != "lab" else {})
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        jupyter.marks.started = time.monotonic()
        jupyter.start(ready_timeout=timeout)
        auth = {"Authorization": f"token {jupyter.token}"}
        poller = jupyter.marks.poll("app answering", lambda: answers(jupyter.url(route), headers=auth, timeout=5),
                                    timeout)
        page = context.new_page()
        page.goto(f"{jupyter.url(route)}?token={jupyter.token}", wait_until="commit", timeout=timeout * 1000)
        jupyter.marks.mark("first byte")
        wait_until_usable(page, what, timeout)
        jupyter.marks.mark("usable")
        poller.join(timeout)
        return jupyter.marks.ordered()
    finally:
        context.close()
        jupyter.stop()


def through_hub(chromium, hub, engine, user: str, what: str, container: str, timeout: float = 180) -> dict:
    """The phases from the hub's spawn request, made by user's browser (logged in before the clock starts),
    to the app usable; user's spawner is configured for `what` (its image, default_url or cmd). The hub
    must not spawn at login (HUB_LANDS_ON_HOME). Stops the server afterwards."""
    from realhub import api, logged_in, server_url

    route = ROUTES[what]
    context, page = logged_in(chromium, hub, user)
    marks = Marks()
    try:
        pollers = [
            marks.poll("container started", lambda: any(c.name == container and c.status == "running"
                                                        for c in engine.containers.list(filters={"name": container})),
                       timeout),
            marks.poll("Jupyter answering", lambda: api(hub, "GET", f"/users/{user}").json()["servers"]
                       .get("", {}).get("ready"), timeout, interval=0.2),
            # the server's own answer, not the hub's page for a server still starting
            marks.poll("app answering", lambda: answers(f"{server_url(hub, user)}{route}", timeout=5,
                                                        ok=lambda r: r.status_code == 200 and "/hub/" not in r.url,
                                                        headers={"Authorization": f"token {hub['token']}"}), timeout),
        ]
        page.goto(f"{hub['public_url']}/hub/spawn/{user}", wait_until="commit", timeout=timeout * 1000)
        page.wait_for_url(f"**/user/{user}{route}**", wait_until="commit", timeout=timeout * 1000)
        marks.mark("first byte")
        wait_until_usable(page, what, timeout)
        marks.mark("usable")
        for poller in pollers:
            poller.join(timeout)
        return marks.ordered()
    finally:
        context.close()
        api(hub, "DELETE", f"/users/{user}/server")
        poll_until(lambda: not api(hub, "GET", f"/users/{user}").json()["servers"], 120, 0.5,
                   lambda: f"{user}'s server did not stop")
