"""An image upgrade under the same home: Debian 12's image (Python 3.11, R 4.2) then Debian 13's (Python
3.13, R 4.5), as an admin moves a hub between terms. The first start on the new image says once what
the former Python and R left behind; `labstack-env rebuild` reinstalls it and says what it could not.

Every package is made here (local wheels, R source packages in a file repository in the home), so
nothing leaves the container and no index's changes can move a result."""
import json
import sys
from dataclasses import replace

import pytest

from image_tests import build_for_tests
from jupyter_container import JupyterContainer
from probes import execute_in_kernel, local_wheel, run_in_terminal
from r_packages import r_source_package
from tracked import session_label

OLD_BASE = "debian:bookworm-slim"
OLD_TAG = "smoke-bookworm"  # never a version tag: it must not look like a released image
# The user's pip reads its index from their own pip.conf, as at a site with its own index: here a folder.
WHEELS = "/home/jovyan/wheels"
PIP_CONF = f"[global]\nno-index = true\nfind-links = {WHEELS}\n"
# The admin's repository for R (a profile's LABSTACK_CRAN_URL), here a folder in the home.
R_REPO = "/home/jovyan/rrepo"
ENVIRONMENT = {"LABSTACK_CRAN_URL": f"file://{R_REPO}"}
THEME = "@jupyterlab/apputils-extension:themes"


def wheels(folder):
    return [local_wheel(folder, "pandocfilters", "0.0.1", "LABSTACK = 'the user\\'s 0.0.1'\n"),
            local_wheel(folder, "labstackneedsold", "1.0", "import pandocfilters\nVALUE = pandocfilters.LABSTACK\n",
                        requires=["pandocfilters<1"]),
            local_wheel(folder, "labstackusersite", "1.0", "VALUE = 'from pip install --user'\n"),
            # what a newer Python can't take: rebuild must say so, and why
            local_wheel(folder, "labstackonly311", "1.0", "VALUE = 311\n", requires_python="<3.12")]


def labstack_env_lines(jupyter: JupyterContainer) -> list[str]:
    return [line for line in jupyter.tracked.logs().splitlines() if line.startswith("labstack-env:")]


@pytest.fixture(scope="module")
def old_image(settings, spec):
    """The same layers built on Debian 12, as last term's image was."""
    bookworm = replace(settings, base_image=OLD_BASE, naming=replace(settings.naming, tag=OLD_TAG, version_tag=""))
    return build_for_tests(spec, bookworm, lambda line: print(line, file=sys.stderr, flush=True))


@pytest.fixture(scope="module")
def home(engine):
    volume = engine.volumes.create(labels=session_label())
    yield {volume.name: {"bind": "/home/jovyan", "mode": "rw"}}
    volume.remove(force=True)


def versions(jupyter: JupyterContainer) -> list[str]:
    return jupyter.exec(["sh", "-c", "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'; "
                         "Rscript -e 'cat(R.version$major, sub(\"[.].*\", \"\", R.version$minor), sep=\".\")'"]).split()


@pytest.mark.layer_image
def test_an_upgrade_says_what_was_left_behind_and_rebuild_brings_it_back(image, spec, old_image, home, tmp_path):
    # Last term: Python 3.11 and R 4.2. Packages from the user's environment, the user site and R's user
    # library, one of each kind that the next Python or repository can't give back; a JupyterLab setting.
    with JupyterContainer(old_image, volumes=home, environment=ENVIRONMENT) as old:
        assert versions(old) == ["3.11", "4.2"]
        old.exec(["sh", "-c", f"mkdir -p {WHEELS} {R_REPO}/src/contrib ~/.config/pip && printf '{PIP_CONF}' > ~/.config/pip/pip.conf"])
        for wheel in wheels(tmp_path):
            old.put_file(wheel, WHEELS)
        said = run_in_terminal(old, "pip install labstackneedsold labstackonly311 >/dev/null 2>&1 && "
                                    "pip install --user labstackusersite 2>&1 | tail -3; echo pip $?", timeout=180)
        assert said.splitlines()[-1] == "pip 0", said
        assert execute_in_kernel(old, "python3", "import labstackneedsold, labstackusersite, labstackonly311; "
                                 "labstackneedsold.VALUE, labstackusersite.VALUE") == \
            "(\"the user's 0.0.1\", 'from pip install --user')"
        # one package from the repository, one from a tarball the repository doesn't have
        old.exec(["sh", "-c", f"cp {r_source_package(old, 'labstackupgrade', 'kept')} {R_REPO}/src/contrib/ && "
                  f"Rscript -e 'tools::write_PACKAGES(\"{R_REPO}/src/contrib\", type = \"source\")'"], timeout=60)
        local_only = r_source_package(old, "labstacklocalonly", "local")
        assert execute_in_kernel(old, "ir", f'install.packages("labstackupgrade"); install.packages("{local_only}", repos = NULL)\n'
                                 'library(labstackupgrade); paste(hello(), dirname(find.package("labstacklocalonly")))',
                                 timeout=180) == '[1] "kept /home/jovyan/R/x86_64-pc-linux-gnu-library/4.2"'
        theme = requests_put(old, f"/lab/api/settings/{THEME}", {"raw": json.dumps({"theme": "JupyterLab Dark"})})
        assert theme.status_code == 204, theme.text

    # This term: Python 3.13 and R 4.5 on the same home.
    with JupyterContainer(image(spec), volumes=home, environment=ENVIRONMENT) as new:
        assert versions(new) == ["3.13", "4.5"]
        lines = labstack_env_lines(new)
        joined = "\n".join(lines)
        assert len(lines) == 3, joined  # the environment's packages, the user site's, R's
        assert "2 Python packages installed for 3.11" in joined and "labstackneedsold, labstackonly311" in joined, joined
        assert "1 Python package installed for 3.11" in joined and "labstackusersite" in joined, joined
        assert "2 R packages installed for R 4.2" in joined and "labstacklocalonly, labstackupgrade" in joined, joined
        assert all(line.endswith("run `labstack-env rebuild`") for line in lines), joined
        # ... and once in JupyterLab's first terminal, not in the next
        greeting, _ = run_in_terminal(new, "true", greeting=True)
        assert "2 Python packages installed for 3.11" in greeting and "R 4.2" in greeting, greeting
        greeting, _ = run_in_terminal(new, "true", greeting=True)
        assert "labstack-env:" not in greeting, greeting
        # left behind, until the rebuild
        assert execute_in_kernel(new, "python3", "import importlib.util; str(importlib.util.find_spec('labstackneedsold'))") == "'None'"
        assert "there is no package called" in run_in_terminal(new, "Rscript -e 'library(labstackupgrade)' 2>&1")
        rebuilt = run_in_terminal(new, "labstack-env rebuild 2>&1; echo exit $?", timeout=300)
        assert rebuilt.splitlines()[-1] == "exit 1", rebuilt  # what could not be reinstalled is a failure
        assert "done; 2 not reinstalled" in rebuilt, rebuilt
        assert "not reinstalled: labstackonly311 1.0: Package 'labstackonly311' requires a different Python" in rebuilt, rebuilt
        assert f"not reinstalled: R labstacklocalonly: not in the repository (file://{R_REPO})" in rebuilt, rebuilt
        # the kernel, a terminal and R find what was rebuilt; the JupyterLab setting stayed
        assert execute_in_kernel(new, "python3", "import labstackneedsold, labstackusersite; "
                                 "labstackneedsold.VALUE, labstackusersite.VALUE") == \
            "(\"the user's 0.0.1\", 'from pip install --user')"
        assert run_in_terminal(new, "python -c 'import labstackneedsold; print(labstackneedsold.VALUE)'") == "the user's 0.0.1"
        assert execute_in_kernel(new, "ir", 'library(labstackupgrade); paste(hello(), dirname(find.package("labstackupgrade")))',
                                 timeout=120) == '[1] "kept /home/jovyan/R/x86_64-pc-linux-gnu-library/4.5"'
        theme = new.get(f"/lab/api/settings/{THEME}")
        assert "JupyterLab Dark" in theme.json()["raw"], theme.text

    # The next start says nothing more: what was rebuilt, and what was said, is remembered in the home.
    with JupyterContainer(image(spec), volumes=home, environment=ENVIRONMENT) as again:
        assert labstack_env_lines(again) == []
        status = run_in_terminal(again, "labstack-env status")
        assert status.startswith("Python 3.13: /home/jovyan/.local/share/labstack/envs/python3.13 ("), status


def requests_put(jupyter: JupyterContainer, path: str, body: dict):
    import requests

    return requests.put(jupyter.url(path), json=body, timeout=30, headers={"Authorization": f"token {jupyter.token}"})
