"""Smoke tests of the rstudio image: the R kernel, Shiny at /shiny/, RStudio at /rstudio/ where present."""
import os
import subprocess
import uuid
from dataclasses import replace

import pytest
import requests

from image_tests import GRAPH
from r_packages import r_source_package
from labstack.builder import build_spec
from labstack.settings import from_environment
from labstack.tags import Naming
from labstack.engine import image_exists, image_labels, remove_image
from tracked import TestContainer
from jupyter_container import JupyterContainer
from probes import (LOOPBACK_HEX, app_sockets, build_py, dockerfile_arg, assert_home_belongs_to, assert_refused, execute_in_kernel,
                    run_in_terminal,
                    listening_sockets, process_uids, servers_info_names)




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


@pytest.mark.layer_image
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
    """--rstudio-deb: the file is staged into the build and installed with apt.

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
        # the label is measured from the image (`rstudio-server version`): hello brings no rstudio-server
        assert engine.images.get(ref).labels["io.labstack.rstudio-server.version"] == "none"
        with TestContainer(ref, network_mode="none", command=["sleep", "300"]) as tracked:
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
    try:
        run_first_cell(page, "cat(6 * 7)", "42")
    except Exception:  # what Jupyter said of the kernel (a cold CI run once saw no idle R kernel in 120 s)
        print(jupyter.tracked.container.logs(tail=60).decode(errors="replace"))
        raise
    page_visit.screenshot(f"r-notebook-{spec.replace('+', '-')}")
    page.context.close()


@pytest.mark.layer_image
def test_shiny_comes_back_after_a_crash(jupyter, shiny_page, spec):
    from probes import CRASH_PROBES, recovery_seconds

    seconds = recovery_seconds(jupyter, *CRASH_PROBES["shiny"])
    print(f"\nlabstack: {spec}: Shiny back {seconds:.1f} s after SIGKILL")


@pytest.mark.layer_image
def test_rstudio_comes_back_after_a_crash(jupyter, has_rserver, spec):
    from probes import CRASH_PROBES, recovery_seconds

    if not has_rserver:
        pytest.skip("RStudio Server is not in this image (built without it); to probe it, pass the .deb: "
                    "LABSTACK_RSTUDIO_DEB=FILE make test")
    jupyter.wait_for("/rstudio/", timeout=180)
    seconds = recovery_seconds(jupyter, *CRASH_PROBES["rstudio"], timeout=60)
    print(f"\nlabstack: {spec}: RStudio back {seconds:.1f} s after SIGKILL")


# ---- what R users expect of a hub (images/rstudio/r-start-hook, Rprofile.site, rstudio-prefs.json)

DEFAULT_CRAN = "https://cloud.r-project.org"
OTHER_CRAN = "https://packagemanager.posit.co/cran/__linux__/trixie/latest"
# RStudio's rsession starts R with a cleaned environment: HOME and little else.
CLEANED_R = ["env", "-i", "HOME=/home/jovyan", "/usr/bin/R", "--no-echo", "-e"]


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


def test_rstudio_is_configured_for_a_hub(jupyter):
    import json

    config = jupyter.exec(["cat", "/etc/rstudio/rserver.conf"]).splitlines()
    assert "rsession-which-r=/usr/bin/R" in config
    assert jupyter.exec(["/usr/bin/R", "--version"]).startswith("R version")
    prefs = json.loads(jupyter.exec(["cat", "/etc/rstudio/rstudio-prefs.json"]))
    assert prefs == {"save_workspace": "never", "load_workspace": False, "check_for_updates": False,
                     "submit_crash_reports": False}


def r_repos(jupyter: JupyterContainer) -> dict[str, str]:
    """getOption("repos") as a notebook, a terminal's R and a cleaned-environment R each see it."""
    code = 'cat(getOption("repos")[["CRAN"]])'
    import re

    notebook = re.fullmatch(r'\[1\] "(.*)"', execute_in_kernel(jupyter, "ir", 'getOption("repos")[["CRAN"]]'))
    return {"notebook": notebook and notebook.group(1),
            "terminal": run_in_terminal(jupyter, f"Rscript -e '{code}'").splitlines()[-1].strip(),
            "cleaned": jupyter.exec(CLEANED_R + [code]).strip()}


def test_the_cran_mirror_is_the_image_default(jupyter):
    assert r_repos(jupyter) == dict.fromkeys(["notebook", "terminal", "cleaned"], DEFAULT_CRAN)


@pytest.fixture(scope="module")
def home_volume(engine):
    from tracked import session_label

    volume = engine.volumes.create(f"labstack-test-r-home-{uuid.uuid4().hex[:8]}", labels=session_label())
    yield volume.name
    volume.remove(force=True)


@pytest.fixture(scope="module")
def r_user(rstudio_image, home_volume):
    """A person's server as a hub starts it: a home volume, a profile's variable and its CRAN mirror."""
    environment = {"PROFILE_COURSE": "stat101 fall", "LABSTACK_CRAN_URL": OTHER_CRAN}
    with JupyterContainer(rstudio_image, environment=environment,
                          volumes={home_volume: {"bind": "/home/jovyan", "mode": "rw"}}) as jupyter:
        yield jupyter


@pytest.mark.layer_image
def test_a_profiles_cran_mirror_reaches_every_r(r_user):
    assert r_repos(r_user) == dict.fromkeys(["notebook", "terminal", "cleaned"], OTHER_CRAN)


@pytest.mark.layer_image
def test_the_containers_environment_reaches_a_cleaned_r_and_only_its_user(r_user):
    assert r_user.exec(CLEANED_R + ['cat(Sys.getenv("PROFILE_COURSE"))']) == "stat101 fall"
    owner_mode = r_user.exec(["stat", "-L", "-c", "%u %a", "/etc/R/Renviron.site"]).split()
    assert owner_mode == ["1000", "600"]
    # Jupyter's token, which the container has, is not among what R sessions get
    assert r_user.exec(CLEANED_R + ['cat(nchar(Sys.getenv("JUPYTER_TOKEN")))']) == "0"


@pytest.mark.layer_image
def test_the_hubs_token_is_written_into_no_file(r_user):
    """The start hook run as under a hub (JUPYTERHUB_API_TOKEN set): the token lands in no file of the
    container, while a profile's variable still reaches R."""
    token = uuid.uuid4().hex
    r_user.exec(["env", f"JUPYTERHUB_API_TOKEN={token}", "JUPYTERHUB_USER=alice", "/etc/labstack/start.d/50-r"])
    assert r_user.exec(CLEANED_R + ['cat(Sys.getenv("JUPYTERHUB_USER"))']) == "alice"
    found = r_user.exec(["sh", "-c", f"grep -rlsF {token} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev"
                         " || true"], timeout=300)
    assert found.strip() == "", found


HELLO = "hello from the user library"


def install_hello_from_a_notebook(jupyter: JupyterContainer) -> str:
    """Build a two-file source package here (no CRAN), install it from a notebook with no `lib`, and
    return the library it went into, after checking a terminal's R loads it."""
    tarball = r_source_package(jupyter, "labstackhello", HELLO)
    installed = execute_in_kernel(jupyter, "ir", f'install.packages("{tarball}", repos = NULL)\n'
                                  'dirname(find.package("labstackhello"))', timeout=180)
    assert run_in_terminal(jupyter, "Rscript -e 'library(labstackhello); cat(hello())'", timeout=60).splitlines()[-1] == HELLO
    return installed


@pytest.mark.layer_image
def test_a_package_installed_from_a_notebook_stays_in_the_home(r_user, rstudio_image, home_volume):
    """Installed into R_LIBS_USER in the home, first on .libPaths(): a new container on the same home
    volume (the next day's server) loads it."""
    library = "/home/jovyan/R/x86_64-pc-linux-gnu-library/4.5"
    assert install_hello_from_a_notebook(r_user) == f'[1] "{library}"'
    assert r_user.exec(["Rscript", "-e", "cat(.libPaths()[1])"]) == library
    with JupyterContainer(rstudio_image, volumes={home_volume: {"bind": "/home/jovyan", "mode": "rw"}}) as next_day:
        assert execute_in_kernel(next_day, "ir", "library(labstackhello); hello()") == f'[1] "{HELLO}"'


@pytest.mark.layer_image
def test_the_user_library_works_under_any_uid(rstudio_image):
    with JupyterContainer(rstudio_image, user="23456:100") as jupyter:
        assert install_hello_from_a_notebook(jupyter) == '[1] "/home/jovyan/R/x86_64-pc-linux-gnu-library/4.5"'
