"""The dashboard layer (declared: images/dashboard/image.toml, Voilà and ipywidgets from PyPI), as its
users meet it in chromium: the dashboard renders at /dashboard/ behind Jupyter's login and its widgets
react; and alone (`labstack-alone dashboard`, the profile's "Dashboard alone") through a real hub, where
it is the whole server: alice lands on it, bob is refused over HTTP and websocket. What it declares
(pins, route, launcher, loopback) is test_declared_layers.py's."""
import pytest

from labstack.containers import remove_stray_containers

from tracked import session_filter
from jupyter_container import JupyterContainer
from probes import assert_refused
from realhub import docker_spawner_config, logged_in, login, running_hub, server_url, spawn_all, websocket_status

PREFIX = "labstack-dash"  # the hub's containers: PREFIX-<user>, the cleanup's filter too



@pytest.fixture(scope="module")
def jupyter(image, spec):
    with JupyterContainer(image(spec)) as jupyter:
        yield jupyter


# Voilà's lab template links Font Awesome's CSS from jsdelivr (voila 0.5.13, templates/lab/index.html.j2);
# the same CSS is in Voilà's own bundle, so the page works where the CDN is out of reach. The test keeps
# its traffic on loopback: these two are aborted, and any other host asked for fails the test.
VOILA_CDN = ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/all.min.css",
             "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/v4-shims.min.css")


def only_loopback(page) -> list[str]:
    """Abort every request to a host but loopback's; returns the list they are recorded in."""
    from urllib.parse import urlsplit

    asked: list[str] = []

    def elsewhere(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return urlsplit(url).scheme in ("http", "https", "ws", "wss") and not (
            host == "127.0.0.1" or host == "localhost" or host.endswith(".localhost"))

    def abort(route):
        asked.append(route.request.url)
        route.abort()

    page.route(elsewhere, abort)
    return asked


def dashboard_reacts(page) -> None:
    """The slider at 3, its line saying so; a key on the slider moves it, and the line follows (the
    kernel computes it, over Voilà's websocket)."""
    # the rendered widgets, not the kernel's text fallback (VBox(children=(IntSlider(...), Label(...))))
    page.wait_for_selector(".widget-label:has-text('labstack-dashboard: 3 points')", timeout=120_000)
    page.locator(".widget-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(".widget-label:has-text('labstack-dashboard: 4 points')", timeout=60_000)


def test_the_dashboard_renders_and_reacts_in_a_browser(browser, jupyter, spec):
    from browser import visit

    page_visit = visit(browser, jupyter.base_url)
    elsewhere = only_loopback(page_visit.page)
    page_visit.page.goto(f"{jupyter.base_url}/dashboard/?token={jupyter.token}")
    dashboard_reacts(page_visit.page)
    page_visit.screenshot(f"dashboard-{spec.replace('+', '-')}")
    assert set(page_visit.foreign_requests()) <= set(VOILA_CDN), page_visit.foreign_requests()
    assert set(elsewhere) <= set(VOILA_CDN), elsewhere
    page_visit.page.context.close()
    assert_refused(jupyter, "/dashboard/")


ALONE = """
def _alone(spawner):  # the profile's "Dashboard alone": what `build.py profiles` gives as the pod's cmd
    spawner.cmd = ["labstack-alone", "dashboard"]
    spawner.default_url = "/"


c.Spawner.pre_spawn_hook = _alone
"""


@pytest.fixture(scope="module")
def alone(image, spec, engine, tmp_path_factory):
    """A real hub whose alice runs the dashboard alone, spawned and ready."""
    pytest.importorskip("dockerspawner", reason="dockerspawner is not installed (pip install -r requirements-dev.txt)")
    spawner = docker_spawner_config(PREFIX, image(spec)) + ALONE
    try:
        with running_hub(engine, tmp_path_factory.mktemp("hub"), spawner) as hub:
            spawn_all(hub, [("alice", "", {})])
            yield hub, engine.containers.get(f"{PREFIX}-alice")
    finally:
        remove_stray_containers(session_filter(), prefix=PREFIX)


def test_the_dashboard_alone_is_alices_whole_server_and_refuses_bob(alone, browser, spec):
    hub, container = alone
    context, page = logged_in(browser, hub, "alice")
    try:
        elsewhere = only_loopback(page)
        page.goto(f"{server_url(hub, 'alice')}/")  # the hub's OAuth, then the dashboard at the server's root
        dashboard_reacts(page)
        assert set(elsewhere) <= set(VOILA_CDN), elsewhere
    finally:
        context.close()
    # Voilà, started by the standalone proxy at the first request; no notebook server
    processes = container.exec_run(["ps", "-eo", "args="]).output.decode()
    assert "-m labstack_proxy" in processes and "voila" in processes, processes
    assert "jupyterhub-singleuser" not in processes and "jupyter-lab" not in processes, processes

    bob = login(hub, "bob")
    refused = bob.get(f"{server_url(hub, 'alice')}/", timeout=60)
    assert refused.status_code == 403 and "labstack-dashboard" not in refused.text, refused.status_code
    # the kernel's websocket, as the page opens it: refused before it reaches Voilà
    socket = f"{server_url(hub, 'alice')}/api/kernels/00000000-0000-0000-0000-000000000000/channels"
    assert websocket_status(socket, cookies=bob.cookies) in (302, 403)
    assert websocket_status(socket) in (302, 403)
