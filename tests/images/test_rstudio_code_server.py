"""The combination rstudio+code-server: code-server's Dockerfile built on the rstudio image."""
import pytest

from jupyter_container import JupyterContainer
from probes import execute_in_kernel, servers_info_names


@pytest.fixture(scope="module")
def jupyter(image):
    with JupyterContainer(image("rstudio+code-server")) as jupyter:
        yield jupyter


def test_both_layers_are_served(jupyter):
    assert {"shiny", "vscode"} <= set(servers_info_names(jupyter))
    assert "vscode-workbench-web-configuration" in jupyter.wait_for("/vscode/", timeout=120).text
    assert "labstack Shiny example" in jupyter.wait_for("/shiny/", timeout=180).text


def test_r_kernel_still_runs(jupyter):
    assert execute_in_kernel(jupyter, "ir", "1+1") == "[1] 2"


def test_labels_of_both_layers(jupyter, engine):
    labels = engine.images.get(jupyter.image).labels
    assert "io.labstack.code-server.version" in labels and "io.labstack.rstudio-server.version" in labels


def test_code_server_uses_its_own_node(jupyter):
    # Shiny Server's Debian package brings an older node onto PATH; code-server must not use it.
    jupyter.wait_for("/vscode/", timeout=120)
    commands = jupyter.exec(["ps", "-eo", "args="]).splitlines()
    code_server = [c for c in commands if "code-server/out/node/entry.js" in c]
    assert code_server and all(c.startswith("/opt/node/bin/node ") for c in code_server), code_server
