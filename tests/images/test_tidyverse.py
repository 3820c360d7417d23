"""The tidyverse layer (declared: images/tidyverse/image.toml, Debian's r-cran-tidyverse on rstudio), as
an R user meets it: an R notebook in chromium loads the tidyverse and renders a ggplot. What it declares
(the packages installed and loading) is test_declared_layers.py's; rstudio's own tests run on it too."""
import pytest

from jupyter_container import JupyterContainer

LAYER = "tidyverse"


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
