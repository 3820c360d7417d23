"""Smoke tests of the rstudio image: the R kernel, Shiny at /shiny/, RStudio at /rstudio/ where present."""
import os
import subprocess
import uuid
from dataclasses import replace

import pytest
import requests

from conftest import GRAPH
from labstack.builder import build_spec
from labstack.settings import from_environment
from labstack.naming import Naming
from labstack.engine import image_exists, image_labels, remove_image
from labstack.containers import TrackedContainer
from jupyter_container import JupyterContainer
from probes import (LOOPBACK_HEX, app_sockets, build_py, dockerfile_arg, assert_home_belongs_to, assert_refused, execute_in_kernel,
                    run_in_terminal,
                    listening_sockets, process_uids, servers_info_names)


LAYER = "rstudio"  # these tests run on every image with the rstudio layer


@pytest.fixture(scope="module")
def rstudio_image(image, spec):
    return image(spec)


@pytest.fixture(scope="module")
def jupyter(rstudio_image):
    with JupyterContainer(rstudio_image) as jupyter:
        yield jupyter


@pytest.fixture(scope="module")
def has_rserver(jupyter):
    return jupyter.exec(["sh", "-c", "test -x /usr/lib/rstudio-server/bin/rserver && echo yes || echo no"]).strip() == "yes"


@pytest.fixture(scope="module")
def shiny_page(jupyter):
    return jupyter.wait_for("/shiny/", timeout=180)


def test_r_kernel_runs_code(jupyter):
    assert execute_in_kernel(jupyter, "ir", "1+1") == "[1] 2"


def test_shiny_serves_the_example_app(shiny_page):
    assert "labstack Shiny example" in shiny_page.text
    assert "shiny" in shiny_page.text.lower() and "<script" in shiny_page.text


def test_shiny_websocket_upgrades_only_with_token(jupyter, shiny_page):
    # Shiny Server speaks SockJS; its raw websocket endpoint is <app>/__sockjs__/<server>/<session>/websocket.
    path = f"/shiny/__sockjs__/000/{uuid.uuid4().hex[:8]}/websocket"
    assert jupyter.websocket_status(path) == 101
    assert_refused(jupyter, path)
    assert_refused(jupyter, "/shiny/")


def test_servers_info_lists_shiny_and_rstudio_when_present(jupyter, has_rserver):
    names = servers_info_names(jupyter)
    assert "shiny" in names
    assert ("rstudio" in names) == has_rserver


def test_rstudio_serves_its_page(jupyter, has_rserver, engine):
    label = engine.images.get(jupyter.image).labels["io.labstack.rstudio-server.version"]
    if not has_rserver:
        assert label == "none"
        pytest.skip("RStudio Server is not in this image: it was built without it (--without-rstudio, or its "
                    "download was out of reach; label io.labstack.rstudio-server.version=none); to probe it, pass "
                    "the .deb: LABSTACK_RSTUDIO_DEB=FILE make test, or build.py test rstudio --rstudio-deb FILE")
    assert label != "none"
    response = jupyter.wait_for("/rstudio/", timeout=180)
    assert "RStudio" in response.text
    assert_refused(jupyter, "/rstudio/")


def test_apps_listen_on_loopback_only(jupyter, shiny_page):
    every = listening_sockets(jupyter)
    assert jupyter.listen_port in {s["port"] for s in every}
    sockets = app_sockets(jupyter, every)
    assert sockets and all(s["address"] in LOOPBACK_HEX for s in sockets), sockets
    assert process_uids(jupyter, "shiny-server") == {1000}


def test_rserver_is_configured_for_loopback_only(jupyter):
    # rserver.conf is read whatever flags jupyter-rsession-proxy passes: a TCP fallback binds loopback.
    assert "www-address=127.0.0.1" in jupyter.exec(["cat", "/etc/rstudio/rserver.conf"]).splitlines()


def test_home_belongs_to_jovyan(jupyter):
    assert_home_belongs_to(jupyter)


def test_build_without_a_deb_stops_with_a_clear_message(rstudio_image):
    """Where Posit's site is out of reach, building RStudio in needs a local .deb or --without-rstudio."""
    tag = "rstudio-download-probe"
    env = {k: v for k, v in os.environ.items() if k != "LABSTACK_WITHOUT_RSTUDIO"}
    try:
        result = build_py("build", "rstudio", "--tag", tag, "--network", "host", env=env)
        rstudio_built = image_exists(f"labstack/rstudio:{tag}")
        label = image_labels(f"labstack/rstudio:{tag}").get("io.labstack.rstudio-server.version") if rstudio_built else None
    finally:
        for name in ("base", "rstudio"):  # the probe's own tags; the layers stay in the build cache
            remove_image(f"labstack/{name}:{tag}")
    if result.returncode == 0:
        assert label == dockerfile_arg("rstudio", "RSTUDIO_VERSION")  # the pinned, checksummed download went in
        pytest.skip("Posit's download site is reachable here: the pinned .deb built, nothing to refuse")
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert "cannot download RStudio Server" in error and "--rstudio-deb" in error and "--without-rstudio" in error
    assert not rstudio_built  # no half-built tag


def test_local_deb_goes_through_the_offline_path(tmp_path, engine):
    """--rstudio-deb: the file is staged into the build, installed with apt, and its version labelled.

    No RStudio Server .deb can be had here, so a real Debian package (hello) stands in for the file;
    this checks the offline mechanism, not RStudio itself (test_rstudio_serves_its_page does that).
    """
    download = subprocess.run(["apt-get", "download", "hello"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
    debs = list(tmp_path.glob("hello_*.deb"))
    if download.returncode != 0 or not debs:
        pytest.fail(f"apt-get download hello failed: {download.stderr.strip()[-500:]}")
    version = subprocess.run(["dpkg-deb", "--field", str(debs[0]), "Version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    settings = replace(from_environment(GRAPH, ["--rstudio-deb", str(debs[0])]),  # what build.py --rstudio-deb does
                       naming=Naming(owner="labstack", tag=f"offline-deb-{uuid.uuid4().hex[:6]}"))
    ref = settings.naming.tags("rstudio")[0]
    try:
        build_spec("rstudio", settings, lambda line: None)
        assert engine.images.get(ref).labels["io.labstack.rstudio-server.version"] == version
        with TrackedContainer(ref, network_mode="none", command=["sleep", "300"]) as tracked:
            tracked.run_detached()
            assert tracked.exec(["dpkg-query", "-W", "-f=${Version}", "hello"]) == version
    finally:
        for name in ("base", "rstudio"):
            remove_image(settings.naming.tags(name)[0])


def test_shiny_strftime_is_served(jupyter, shiny_page):
    # Shiny's pages ask for strftime-0.9.2/strftime-min.js; Debian's r-cran-shiny names the file otherwise.
    # Asked as a browser asks, right after the page: the app's R process serves its dependencies, and
    # Shiny Server ends that process seconds after its last page (once seen here as a 404).
    session = requests.Session()
    session.headers["Authorization"] = f"token {jupyter.token}"
    assert session.get(jupyter.url("/shiny/"), timeout=60).status_code == 200
    assert session.get(jupyter.url("/shiny/strftime-0.9.2/strftime-min.js"), timeout=60).status_code == 200


def test_shiny_in_a_browser_reacts_to_its_input(browser, jupyter, shiny_page, spec):
    from browser import login, shiny_example_reacts, visit

    page_visit = visit(browser, jupyter.base_url)
    page = page_visit.page
    login(page_visit, jupyter)
    page.goto(f"{jupyter.base_url}/shiny/")
    shiny_example_reacts(page)
    page_visit.screenshot(f"shiny-{spec.replace('+', '-')}")
    assert page_visit.not_found == [], page_visit.not_found
    assert page_visit.foreign_requests() == [], page_visit.foreign_requests()
    page.context.close()


def test_an_r_notebook_runs_in_the_browser(browser, jupyter, spec):
    from browser import login, run_first_cell, visit

    page_visit = visit(browser, jupyter.base_url)
    page = page_visit.page
    login(page_visit, jupyter)
    page.locator(".jp-LauncherCard[data-category='Notebook'][title='R']").click()
    run_first_cell(page, "cat(6 * 7)", "42")
    page_visit.screenshot(f"r-notebook-{spec.replace('+', '-')}")
    page.context.close()


def test_shiny_comes_back_after_a_crash(jupyter, shiny_page, spec):
    from probes import CRASH_PROBES, recovery_seconds

    seconds = recovery_seconds(jupyter, *CRASH_PROBES["shiny"])
    print(f"\nlabstack: {spec}: Shiny back {seconds:.1f} s after SIGKILL")


def test_rstudio_comes_back_after_a_crash(jupyter, has_rserver, spec):
    from probes import CRASH_PROBES, recovery_seconds

    if not has_rserver:
        pytest.skip("RStudio Server is not in this image (built without it); to probe it, pass the .deb: "
                    "LABSTACK_RSTUDIO_DEB=FILE make test")
    jupyter.wait_for("/rstudio/", timeout=180)
    seconds = recovery_seconds(jupyter, *CRASH_PROBES["rstudio"], timeout=60)
    print(f"\nlabstack: {spec}: RStudio back {seconds:.1f} s after SIGKILL")


def test_versions_are_the_binaries_own(jupyter, engine):
    """The labels build.py measured from the image (images/rstudio/image.toml), checked against what each
    program says of itself; the R tag an admin pins a profile to names the same R."""
    import re

    labels = engine.images.get(jupyter.image).labels
    r_says = jupyter.exec(["R", "--version"]).splitlines()[0]
    assert re.match(rf"R version {re.escape(labels['io.labstack.r.version'])} \(", r_says), (r_says, labels)
    assert labels["io.labstack.r.version"].startswith("4.5."), "Debian 13's R"
    shiny_says = jupyter.exec(["shiny-server", "--version"]).splitlines()[0]
    assert shiny_says == f"Shiny Server v{labels['io.labstack.shiny-server.version']}"
    described = jupyter.exec(["grep", "^Version:", "/usr/lib/R/site-library/IRkernel/DESCRIPTION"]).split()[1]
    assert described == labels["io.labstack.irkernel.version"]
    has_rstudio = jupyter.exec(["sh", "-c", "command -v rstudio-server || true"]).strip()
    rstudio_says = (jupyter.exec(["rstudio-server", "version"]).split()[0].replace("+", "-") if has_rstudio else "none")
    assert rstudio_says == labels["io.labstack.rstudio-server.version"]
    repository = jupyter.image.rsplit(":", 1)[0]
    pinned = engine.images.get(f"{repository}:r-{labels['io.labstack.r.version']}")
    assert pinned.labels["io.labstack.r.version"] == labels["io.labstack.r.version"]

