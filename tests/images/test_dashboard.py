"""The dashboard layer (declared: images/dashboard/image.toml, Voilà and ipywidgets from PyPI), as its
users meet it in chromium: the dashboard renders at /dashboard/ behind Jupyter's login and its widgets
react. What it declares (pins, route, launcher, loopback) is test_declared_layers.py's."""
import pytest

from jupyter_container import JupyterContainer
from probes import assert_refused

LAYER = "dashboard"


@pytest.fixture(scope="module")
def jupyter(image, spec):
    with JupyterContainer(image(spec)) as jupyter:
        yield jupyter


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
    page_visit.page.goto(f"{jupyter.base_url}/dashboard/?token={jupyter.token}")
    dashboard_reacts(page_visit.page)
    page_visit.screenshot(f"dashboard-{spec.replace('+', '-')}")
    assert page_visit.foreign_requests() == [], page_visit.foreign_requests()
    page_visit.page.context.close()
    assert_refused(jupyter, "/dashboard/")
