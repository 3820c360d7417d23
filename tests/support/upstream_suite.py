"""jupyter-server-proxy's own test suite, run inside an image against its Jupyter environment.

The pins are the base layer's (images/base/labstack-proxy/upstream-suite.toml). fetch() runs on the host,
from scripts/install-deps (the network is needed only there); run() is offline: a container with no
network, the suite and the wheels mounted read-only.

    PYTHONPATH=. python3 tests/support/upstream_suite.py fetch
    PYTHONPATH=. python3 tests/support/upstream_suite.py run IMAGE [--without-labstack]
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from labstack import REPO_ROOT
from tracked import TestContainer

PINS = tomllib.loads((REPO_ROOT / "images" / "base" / "labstack-proxy" / "upstream-suite.toml").read_text())
FETCHED = REPO_ROOT / "build" / "upstream-suite"
SDIST_VERSION = re.search(r"jupyter_server_proxy-([0-9.]+)\.tar\.gz$", PINS["sdist"]["url"]).group(1)

# Inside the container, as root (the suite starts its own servers; allow_root lets them run as root).
# Upstream waits 10 s for each server it starts (20 tries, 0.5 s apart): on a loaded 2-core CI machine
# `jupyter lab` can take longer, and a slow start is not what the suite tests. 120 tries: 60 s.
SCRIPT = r"""set -e
cp -r /suite/source /tmp/suite && cd /tmp/suite
sed -i 's/^    retries = 20$/    retries = 120/' tests/conftest.py
grep -q 'retries = 120' tests/conftest.py
# the runner and `jupyter notebook` go where a user's packages go: the user's environment (labstack-env),
# which sees Jupyter's below its own; first on PATH, so `jupyter notebook` is found
/usr/local/bin/labstack-env start
env=$(ls -d "$HOME"/.local/share/labstack/envs/python3.* | head -1)
export PATH="$env/bin:$PATH"
# a server started from there (`jupyter notebook`) reads its config and data where Jupyter's own does,
# as `jupyter lab` (from /opt/jupyter) does: jupyter_server_proxy is enabled in /opt/jupyter/etc/jupyter
export JUPYTER_CONFIG_PATH=/opt/jupyter/etc/jupyter JUPYTER_PATH=/opt/jupyter/share/jupyter
pip install -q --no-index --find-links /suite/wheels {requirements}
{{ echo; echo 'c.ServerApp.allow_root = True'; }} >> tests/resources/jupyter_server_config.py
{setup}
exec python -m pytest -p no:cacheprovider -o addopts= -q -rfE --junit-xml=/tmp/suite/junit.xml {modules} "$@"
"""
# labstack's changes, installed as the image's own config does; a server where they replaced nothing
# would not start, so no test could pass on upstream alone by mistake
WITH_LABSTACK = ("printf '%s\\n' 'import labstack_proxy, labstack_proxy.upstream' 'labstack_proxy.install(c)' "
                 "'assert labstack_proxy.upstream.UPSTREAM' >> tests/resources/jupyter_server_config.py")
# upstream alone: the image's own config (which installs labstack_proxy) out of the way
WITHOUT_LABSTACK = "mv /etc/jupyter/jupyter_server_config.py /tmp/"


def fetched() -> bool:
    return (FETCHED / "source" / "tests" / "conftest.py").is_file() and any((FETCHED / "wheels").glob("pytest-*.whl"))


def fetch(python: str = "3.13") -> Path:
    """The sdist (its sha256 checked) unpacked into build/upstream-suite/source, and the wheels."""
    FETCHED.mkdir(parents=True, exist_ok=True)
    archive = FETCHED / Path(PINS["sdist"]["url"]).name
    if not archive.is_file() or hashlib.sha256(archive.read_bytes()).hexdigest() != PINS["sdist"]["sha256"]:
        with urllib.request.urlopen(PINS["sdist"]["url"], timeout=120) as response:
            archive.write_bytes(response.read())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != PINS["sdist"]["sha256"]:
        raise SystemExit(f"upstream_suite: {archive.name} has sha256 {digest}, not the pinned {PINS['sdist']['sha256']}")
    source = FETCHED / "source"
    if not (source / "tests" / "conftest.py").is_file():
        with tarfile.open(archive) as tar:
            top = tar.getnames()[0].split("/")[0]
            tar.extractall(FETCHED, filter="data")
        (FETCHED / top).rename(source)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "--python-version", python,
                    "--implementation", "cp", "-d", str(FETCHED / "wheels"),
                    "--constraint", str(REPO_ROOT / "images" / "base" / "install" / "jupyter-lock.txt"),
                    *PINS["suite"]["requirements"]], check=True, timeout=600)
    return FETCHED


@dataclass
class Outcome:
    passed: int
    failed: list[str] = field(default_factory=list)
    output: str = ""


def run(image: str, with_labstack: bool = True, extra: tuple[str, ...] = (), timeout: int = 1500) -> Outcome:
    script = SCRIPT.format(requirements=" ".join(PINS["suite"]["requirements"]),
                           setup=WITH_LABSTACK if with_labstack else WITHOUT_LABSTACK,
                           modules=" ".join(PINS["suite"]["modules"]))
    volumes = {str(FETCHED / "source"): {"bind": "/suite/source", "mode": "ro"},
               str(FETCHED / "wheels"): {"bind": "/suite/wheels", "mode": "ro"}}
    with TestContainer(image, user="root", network_mode="none", volumes=volumes, entrypoint=["bash", "-c", script, "suite", *extra],
                          command=None) as container:
        code = container.run_detached().wait(timeout=timeout)["StatusCode"]
        output = container.logs()
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", output.splitlines()[-1] if output.strip() else ""))
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    if code not in (0, 1):  # 1: some tests failed, reported; anything else: the suite did not run
        failed.append(f"(the suite exited {code})")
    return Outcome(passed, failed, output)


if __name__ == "__main__":
    if sys.argv[1:2] == ["fetch"]:
        print(fetch())
    elif sys.argv[1:2] == ["run"] and len(sys.argv) >= 3:
        outcome = run(sys.argv[2], with_labstack="--without-labstack" not in sys.argv)
        print(outcome.output[-3000:])
        print(f"passed {outcome.passed}, failed {len(outcome.failed)}: {outcome.failed}")
    else:
        raise SystemExit(__doc__)
