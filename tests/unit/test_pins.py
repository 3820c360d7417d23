"""Each version pin is written once, as a build argument's default in one layer's Dockerfile."""
import re
from collections import Counter

from labstack import REPO_ROOT
from labstack.pins import pinned

PLUMBING = {"BASE_IMAGE", "BUILDER_IMAGE", "LABSTACK_VERSION", "KEEP_CA_BUNDLE", "SOURCE_IMAGE", "MIGRATED_FROM"}


def test_every_pin_is_written_once():
    defaults = Counter()
    for dockerfile in sorted((REPO_ROOT / "images").glob("*/Dockerfile")):
        for name, value in re.findall(r"^ARG ([A-Z0-9_]+)=(\S+)$", dockerfile.read_text(), re.MULTILINE):
            if name.endswith(("_VERSION", "_SHA256")) and name not in PLUMBING:
                defaults[name] += 1
                assert value.strip("'\"") not in ("", "latest"), (dockerfile, name)
    assert defaults and {name: n for name, n in defaults.items() if n > 1} == {}


def test_the_migration_layer_takes_jupyter_pins_from_base():
    mig = (REPO_ROOT / "images" / "mig" / "Dockerfile").read_text()
    for name in ("JUPYTERLAB_VERSION", "JUPYTER_SERVER_PROXY_VERSION", "JUPYTERHUB_VERSION", "UV_VERSION"):
        assert f"ARG {name}\n" in mig and name in pinned("base")
    assert "install-jupyter.sh" in mig and "keep-ca-bundle.sh" in mig
