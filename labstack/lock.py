"""The Jupyter environment's lock: images/base/install/jupyter-lock.txt, a pip constraints file.

Every `pip install` into /opt/jupyter (base, mig and each layer that adds a Jupyter package) passes it
with -c, so an image gets the versions resolved when the lock was made, not whatever PyPI holds on the
day of the build. The top-level pins stay where they are written (each layer's Dockerfile; the layer's
image.toml names them under [jupyter_packages]); `build.py lock` (make lock) resolves all of them
afresh on each Debian suite's Python and writes the lock. Packages that resolve differently per Python
carry a marker; on a Python the lock was not made for (a migrated container's own), nothing is
constrained beyond the top-level pins.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from . import REPO_ROOT, LabstackError
from .baseimage import DEBIAN_SUITES, bootstrap_tag
from .pins import pinned

LOCK = REPO_ROOT / "images" / "base" / "install" / "jupyter-lock.txt"
PROXY_PACKAGE = REPO_ROOT / "images" / "base" / "labstack-proxy"
ANY_PYTHON = "*"
_LINE = re.compile(r'^([A-Za-z0-9_.-]+)==(\S+?)(?:\s*;\s*python_version\s*==\s*"([0-9.]+)")?$')


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level(images: Path | None = None) -> dict[str, str]:
    """package -> version for everything installed into /opt/jupyter by name: each layer's
    [jupyter_packages] (package = the Dockerfile ARG that pins it), a declared layer's packages.pip
    (name==version), and labstack-proxy's build backend."""
    images = images or REPO_ROOT / "images"
    found = {}
    for meta in sorted(images.glob("*/image.toml")):
        data = tomllib.loads(meta.read_text())
        for pin in data.get("packages", {}).get("pip", []):
            package, _, version = pin.partition("==")
            found[normalized(package.split("[")[0])] = version
        for package, argument in data.get("jupyter_packages", {}).items():
            pins = pinned(meta.parent.name, meta.parent)
            if argument not in pins:
                raise LabstackError(f"{meta}: [jupyter_packages] {package} names {argument}, which "
                                    f"{meta.parent.name}/Dockerfile does not pin (ARG {argument}=VERSION)")
            found[normalized(package)] = pins[argument]
    build_system = tomllib.loads((PROXY_PACKAGE / "pyproject.toml").read_text())["build-system"]
    for requirement in build_system["requires"]:
        package, _, version = requirement.partition("==")
        found[normalized(package)] = version
    return found


def parse(text: str) -> dict[str, dict[str, str]]:
    """python version (or ANY_PYTHON) -> package -> version."""
    lock: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if not match:
            raise LabstackError(f"{LOCK.name} line {number}: not `name==version[; python_version == \"X.Y\"]`: {line}")
        package, version, python = match.groups()
        lock.setdefault(python or ANY_PYTHON, {})[normalized(package)] = version
    return lock


def versions_for(lock: dict[str, dict[str, str]], python: str) -> dict[str, str]:
    """What the lock installs on this Python (X.Y): the unmarked lines and that Python's own."""
    return {**lock.get(ANY_PYTHON, {}), **lock.get(python, {})}


def pythons(lock: dict[str, dict[str, str]]) -> list[str]:
    return sorted(python for python in lock if python != ANY_PYTHON)


def render(resolved: dict[str, dict[str, str]], pins: dict[str, str]) -> str:
    """The lock file for {python: {package: version}}: a line for what all agree on, marked lines for the rest."""
    every = sorted(set().union(*(set(packages) for packages in resolved.values())))
    lines = [
        "# The Jupyter environment's lock (pip constraints). Made by `make lock` (python3 build.py lock)",
        f"# from a fresh resolve of {', '.join(f'{name}=={version}' for name, version in sorted(pins.items()))}",
        f"# on the Pythons of Debian {', '.join(DEBIAN_SUITES)} ({', '.join(sorted(resolved, reverse=True))}). Do not edit: run `make lock`.",
    ]
    for package in every:
        found = {python: packages.get(package) for python, packages in resolved.items()}
        if len(set(found.values())) == 1:
            lines.append(f"{package}=={found[next(iter(found))]}")
        else:
            lines += [f'{package}=={version}; python_version == "{python}"'
                      for python, version in sorted(found.items()) if version]
    return "\n".join(lines) + "\n"


RESOLVE = """set -e
. /ca-env.sh
apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
python3 -m venv /tmp/resolve
/tmp/resolve/bin/pip install -q --disable-pip-version-check {requirements}
/tmp/resolve/bin/python3 -c 'import sys; print("python", "%d.%d" % sys.version_info[:2])'
/tmp/resolve/bin/pip freeze --disable-pip-version-check
"""


def resolve(suite: str, pins: dict[str, str], ca_bundle: Path | None, log) -> tuple[str, dict[str, str]]:
    """(python X.Y, {package: version}) that pip resolves for the pins on Debian `suite`'s own Python."""
    from .baseimage import bootstrap
    from .containers import TrackedContainer
    from .engine import image_exists

    image = bootstrap_tag(suite)
    if not image_exists(image):
        bootstrap(log, image, suite)
    volumes = {str(REPO_ROOT / "images" / "base" / "install" / "ca-env.sh"): {"bind": "/ca-env.sh", "mode": "ro"}}
    if ca_bundle:
        volumes[str(ca_bundle)] = {"bind": "/run/secrets/ca_bundle", "mode": "ro"}  # never in an image
    requirements = " ".join(f"'{name}=={version}'" for name, version in sorted(pins.items()))
    log(f"labstack: resolving the Jupyter environment on Debian {suite}")
    with TrackedContainer(image, purpose="lock", command=["bash", "-c", RESOLVE.format(requirements=requirements)],
                          network_mode="host", user="root", volumes=volumes) as container:
        code = container.run_detached().wait(timeout=900)["StatusCode"]
        output = container.logs()
    if code != 0:
        raise LabstackError(f"resolving on Debian {suite} failed: {output.strip().splitlines()[-1:]}")
    python, packages = "", {}
    for line in output.splitlines():
        if line.startswith("python "):
            python = line.split()[1]
        elif "==" in line:
            name, _, version = line.strip().partition("==")
            packages[normalized(name)] = version
    return python, packages


def refresh(ca_bundle: Path | None, log) -> Path:
    pins = top_level()
    resolved = dict(resolve(suite, pins, ca_bundle, log) for suite in DEBIAN_SUITES)
    LOCK.write_text(render(resolved, pins))
    log(f"labstack: wrote {LOCK.relative_to(REPO_ROOT)}: {sum(map(len, resolved.values()))} pins on Python "
        f"{', '.join(sorted(resolved))}")
    return LOCK
