"""The tidyverse layer (declared: images/tidyverse/image.toml, Debian's r-cran-tidyverse on rstudio), as
an R user meets it: an R notebook in chromium loads the tidyverse and renders a ggplot. What it declares
(the packages installed and loading) is test_declared_layers.py's; rstudio's own tests run on it too.

And an R package Debian does not have, declared the same way: installed from CRAN with R. CRAN is out of
reach here, so the test serves a CRAN of its own on loopback (one source package, built here) and names
it as the layer's mirror."""
import http.server
import io
import shutil
import tarfile
import threading
import tomllib
import uuid

import pytest

from jupyter_container import JupyterContainer



@pytest.fixture(scope="module")
def jupyter(image, spec):
    with JupyterContainer(image(spec)) as jupyter:
        yield jupyter


def test_an_r_notebook_renders_a_ggplot_in_the_browser(browser, jupyter, spec):
    from browser import login, run_first_cell, visit

    page_visit = visit(browser, jupyter.base_url)
    page = page_visit.page
    login(page_visit, jupyter)
    page.locator(".jp-LauncherCard[data-category='Notebook'][title='R']").click()
    code = ('suppressPackageStartupMessages(library(tidyverse)); '
            'print(ggplot(mtcars, aes(wt, mpg)) + geom_point()); cat("tidyverse", as.character(packageVersion("ggplot2")))')
    run_first_cell(page, code, "tidyverse")
    # the plot itself: an image in the cell's output, drawn by R's png device
    page.wait_for_selector(".jp-OutputArea-output img", timeout=60_000)
    box = page.locator(".jp-OutputArea-output img").first.bounding_box()
    assert box["width"] > 200 and box["height"] > 200, box
    page_visit.screenshot(f"tidyverse-ggplot-{spec.replace('+', '-')}")
    page.context.close()


CRAN_PACKAGE = {
    "DESCRIPTION": "Package: labstackcran\nVersion: 0.1.0\nTitle: Served by labstack's Test as CRAN Would\n"
                   "Description: One function.\nLicense: MIT\nAuthor: labstack\n"
                   "Maintainer: labstack <labstack@example.org>\nNeedsCompilation: no\n",
    "NAMESPACE": "export(hello)\n",
    "R/hello.R": 'hello <- function() "labstack-cran-ok"\n',
}


@pytest.fixture
def loopback_cran(tmp_path):
    """A CRAN on 127.0.0.1 holding one source package: (its URL, the paths it was asked for)."""
    contrib = tmp_path / "cran" / "src" / "contrib"
    contrib.mkdir(parents=True)
    with tarfile.open(contrib / "labstackcran_0.1.0.tar.gz", "w:gz") as archive:
        for name, text in CRAN_PACKAGE.items():
            data = text.encode()
            member = tarfile.TarInfo(f"labstackcran/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    (contrib / "PACKAGES").write_text("Package: labstackcran\nVersion: 0.1.0\nNeedsCompilation: no\n")
    asked = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "cran"), **kwargs)

        def log_message(self, *args):
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()


def test_an_r_package_debian_lacks_comes_from_cran(image, spec, settings, loopback_cran, tmp_path):
    """r = ["R6", "labstackcran"]: R6 from Debian (r-cran-r6), labstackcran from the mirror the layer's
    LABSTACK_CRAN_URL names, as a declared layer's build installs them."""
    from labstack import REPO_ROOT
    from labstack.declared import read_declaration
    from labstack.staging import stage_declared
    from labstack.engine import BuildRequest, build, remove_image

    if settings.network != "host":
        pytest.skip("the build reaches the test's CRAN on this machine's loopback only with --network host "
                    f"(LABSTACK_NETWORK=host; this run builds with {settings.network!r})")
    url, asked = loopback_cran
    name = f"crantest{uuid.uuid4().hex[:6]}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "image.toml").write_text('parent = "tidyverse"\n[packages]\nr = ["R6", "labstackcran"]\n')
    declaration = read_declaration(folder / "image.toml", tomllib.loads((folder / "image.toml").read_text()))
    dockerfile = stage_declared(name, "tidyverse", folder, declaration)
    tag = f"labstack/{name}:smoke"
    lines = []
    try:
        build(BuildRequest(dockerfile=dockerfile, context=REPO_ROOT, tags=[tag], network="host",
                           build_args={"BASE_IMAGE": image(spec), "LABSTACK_CRAN_URL": url}), lines.append)
        assert "/src/contrib/labstackcran_0.1.0.tar.gz" in asked, asked
        log = "\n".join(lines)
        assert "install-r-packages: from CRAN (not in Debian): labstackcran" in log, log[-3000:]
        with JupyterContainer(tag) as jupyter:
            said = jupyter.exec(["Rscript", "-e", 'cat(labstackcran::hello(), as.character(packageVersion("R6")))'])
            assert said.split()[0] == "labstack-cran-ok", said
            # R6 came from Debian: its files are dpkg's
            assert "r-cran-r6" in jupyter.exec(["dpkg-query", "-W", "-f=${Package}", "r-cran-r6"])
    finally:
        remove_image(tag)
        shutil.rmtree(dockerfile.parent, ignore_errors=True)
