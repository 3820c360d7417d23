"""The user's own Python environment (labstack-env): any version of anything, in the home, never
Jupyter's. Every wheel is made here (probes.local_wheel), so PyPI's changes can't move a result; pip
runs with --no-index, so nothing leaves the container."""
import pytest

from jupyter_container import JupyterContainer
from probes import execute_in_kernel, local_wheel, run_in_terminal
from tracked import session_label

# A package Jupyter's environment pins (pandocfilters 1.5.1, nbconvert's) that no kernel imports, and a
# user's package that needs it older: what pip refused with --user before (no sys.path precedence).
CONFLICT = "pandocfilters"
PIN = "labstackneedsold"
JUPYTER_ENV_HASH = "find /opt/jupyter -path '*dist-info/RECORD' -print0 | sort -z | xargs -0 cat | sha256sum"
PIP = "pip install --no-index --find-links /tmp/wheels"


def wheels(folder):
    made = [local_wheel(folder, CONFLICT, "0.0.1", "LABSTACK = 'the user\\'s 0.0.1'\n"),
            local_wheel(folder, PIN, "1.0", "import pandocfilters\nVALUE = pandocfilters.LABSTACK\n",
                        requires=[f"{CONFLICT}<1"]),
            local_wheel(folder, "labstacknotebook", "2.0", "VALUE = 'from %pip'\n")]
    return made


def put_wheels(jupyter, folder):
    jupyter.exec(["mkdir", "-p", "/tmp/wheels"])
    for wheel in wheels(folder):
        jupyter.put_file(wheel, "/tmp/wheels")


@pytest.fixture(scope="module")
def home(engine):
    volume = engine.volumes.create(labels=session_label())
    yield {volume.name: {"bind": "/home/jovyan", "mode": "rw"}}
    volume.remove(force=True)


@pytest.mark.layer_image
def test_a_pin_jupyter_holds_otherwise_installs_for_the_user_and_jupyter_is_untouched(image, home, tmp_path):
    with JupyterContainer(image("base"), volumes=home) as jupyter:
        put_wheels(jupyter, tmp_path)
        before = jupyter.exec(["sh", "-c", JUPYTER_ENV_HASH])
        said = run_in_terminal(jupyter, f"{PIP} {PIN} 2>&1 | tail -2; python -c 'import {PIN}; print({PIN}.VALUE)'",
                               timeout=120)
        assert said.splitlines()[-1].strip() == "the user's 0.0.1", said
        assert "lack sys.path precedence" not in said, said
        # the kernel sees it, and %pip lands where the kernel looks, without a restart
        assert execute_in_kernel(jupyter, "python3", f"import {PIN}; {PIN}.VALUE") == "\"the user's 0.0.1\""
        assert execute_in_kernel(jupyter, "python3", f"get_ipython().run_line_magic('pip', '{PIP[4:]} labstacknotebook'); 'done'",
                                 timeout=120) == "'done'"
        assert execute_in_kernel(jupyter, "python3", "import labstacknotebook; labstacknotebook.VALUE") == "'from %pip'"
        # Jupyter's own environment: the same files, its own pandocfilters, and its server unmoved
        assert jupyter.exec(["sh", "-c", JUPYTER_ENV_HASH]) == before
        # what pip install --user writes (the user site) wins over the image's packages in the kernel, and
        # the server's Python never sees it (json5: JupyterLab's server imports it)
        shadow = "$HOME/.local/lib/python3.13/site-packages"
        jupyter.exec(["sh", "-c", f"mkdir -p {shadow} && echo \"LABSTACK = 'user site'\" > {shadow}/json5.py"])
        assert execute_in_kernel(jupyter, "python3", "import json5; json5.LABSTACK") == "'user site'"
        own = jupyter.exec(["/opt/jupyter/bin/python", "-c", f"import json5, {CONFLICT}; print(json5.__file__, {CONFLICT}.__file__)"])
        assert [path.startswith("/opt/jupyter/") for path in own.split()] == [True, True], own
        jupyter.exec(["sh", "-c", f"rm {shadow}/json5.py"])
        where = execute_in_kernel(jupyter, "python3", "import sys; sys.prefix")
        assert where.startswith("'/home/jovyan/.local/share/labstack/envs/python3."), where
        # the image's packages for kernels are still there, below the user's own
        assert execute_in_kernel(jupyter, "python3", "import ipykernel, jupyter_client; 'ok'") == "'ok'"
        assert jupyter.get("/api/status").status_code == 200


@pytest.mark.layer_image
def test_a_new_container_on_the_same_home_keeps_the_users_packages(image, home):
    # after the test above: a hub's restart is a new container on the same volume
    with JupyterContainer(image("base"), volumes=home) as jupyter:
        assert execute_in_kernel(jupyter, "python3", f"import {PIN}; {PIN}.VALUE") == "\"the user's 0.0.1\""
        said = run_in_terminal(jupyter, "command -v python pip; pip list 2>/dev/null | grep -ciE '^labstack(needsold|notebook) '")
        lines = said.splitlines()
        assert "/.local/share/labstack/envs/python" in lines[0] and "/.local/share/labstack/envs/python" in lines[1], said
        assert lines[-1].strip() == "2", said  # labstackneedsold and labstacknotebook


@pytest.mark.layer_image
def test_a_broken_environment_never_stops_the_server_and_rebuild_repairs_it(image, home, tmp_path):
    with JupyterContainer(image("base"), volumes=home) as first:
        env = first.exec(["sh", "-c", "ls -d $HOME/.local/share/labstack/envs/python3.*"]).split()[0]
        first.exec(["sh", "-c", f"rm {env}/bin/python && echo garbage > {env}/pyvenv.cfg"])
    with JupyterContainer(image("base"), volumes=home) as jupyter:
        said = [line for line in jupyter.tracked.logs().splitlines() if line.startswith("labstack-env:")]
        assert len(said) == 1 and "is broken" in said[0] and "labstack-env rebuild" in said[0], said
        # the kernel still runs, in the image's Python, and the server says why
        assert execute_in_kernel(jupyter, "python3", "import sys; sys.prefix") == "'/opt/jupyter'"
        put_wheels(jupyter, tmp_path)
        rebuilt = run_in_terminal(jupyter, "PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/wheels labstack-env rebuild 2>&1", timeout=180)
        assert "moved to" in rebuilt and rebuilt.splitlines()[-1].strip() == "done", rebuilt
        assert execute_in_kernel(jupyter, "python3", f"import {PIN}; {PIN}.VALUE") == "\"the user's 0.0.1\""

