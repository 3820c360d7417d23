"""Declared layers: a layer folder with an image.toml and no Dockerfile. Its [packages] (apt, pip into the
Jupyter environment, R packages from Debian or CRAN) and its [[apps]] with a `command` are rendered into the
Dockerfile and the jupyter-server-proxy entry a hand-written layer would carry, by the same rules: the
build's CA bundle as a secret on each networked step only, pinned pip packages under Jupyter's lock,
labels, the layer's declaration in the image, and jovyan at the end. `build.py render NAME` prints the
Dockerfile, for anyone who wants to read it or take it over.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import LabstackError

# Where a declared layer's folder is in its image: an app's command reaches its files as {folder}.
IMAGE_FOLDER = "/opt/labstack/layers/{name}"
NOT_STAGED = ("__pycache__", "*.pyc", "tests", "test_*.py")  # the folder's tests and bytecode stay out of the image
APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
PIP_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")
R_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")
APP_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
PACKAGE_KINDS = ("apt", "pip", "r")
# Addresses an app must not bind: jupyter-server-proxy reaches it on loopback or a unix socket, and an
# app on another address answers without Jupyter's or the hub's authentication.
EVERY_ADDRESS = {"0.0.0.0", "::", "[::]", "*"}


@dataclass(frozen=True)
class DeclaredApp:
    name: str
    title: str
    command: tuple[str, ...]  # jupyter-server-proxy's templates: {port} or {unix_socket}, {base_url}; and {folder}
    icon: str = ""  # a file in the layer's folder
    absolute_url: bool = False  # True: the app is given its full path (/user/x/<name>/...), for apps that want it
    timeout: int = 60  # seconds jupyter-server-proxy waits for the app to answer after starting it

    @property
    def unix_socket(self) -> bool:
        return any("{unix_socket}" in part for part in self.command)


@dataclass(frozen=True)
class Declaration:
    apt: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    r: tuple[str, ...] = ()  # R package names: Debian's r-cran-<name> where Debian has it, else CRAN's
    apps: tuple[DeclaredApp, ...] = ()


def read_declaration(meta: Path, data: dict) -> Declaration:
    """The [packages] and the apps' commands of a folder without a Dockerfile, checked; a LabstackError
    naming the file and the entry otherwise."""
    packages = data.get("packages", {})
    if not isinstance(packages, dict):
        raise LabstackError(f"{meta}: [packages] must be a table of {', '.join(PACKAGE_KINDS)}")
    unknown = sorted(set(packages) - set(PACKAGE_KINDS))
    if unknown:
        raise LabstackError(f"{meta}: [packages] has no {unknown[0]!r} (it takes {', '.join(PACKAGE_KINDS)})")
    lists = {}
    for kind in PACKAGE_KINDS:
        names = packages.get(kind, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise LabstackError(f"{meta}: packages.{kind} must be a list of strings")
        lists[kind] = tuple(names)
    for name in lists["apt"]:
        if not APT_NAME.match(name):
            raise LabstackError(f"{meta}: packages.apt {name!r} is not a Debian package name")
    for pin in lists["pip"]:
        if not PIP_PIN.match(pin):
            raise LabstackError(f"{meta}: packages.pip {pin!r} needs a pinned version (name==version)")
    for name in lists["r"]:
        if not R_NAME.match(name):
            raise LabstackError(f"{meta}: packages.r {name!r} is not an R package name")
    apps = tuple(_declared_app(meta, entry) for entry in data.get("apps", []))
    if not any(lists.values()) and not apps:
        raise LabstackError(f"{meta}: no Dockerfile, and nothing declared ([packages] or [[apps]] with a command)")
    return Declaration(apt=lists["apt"], pip=lists["pip"], r=lists["r"], apps=apps)


def _declared_app(meta: Path, entry: dict) -> DeclaredApp:
    name = entry.get("name", "")
    command = entry.get("command")
    if not APP_NAME.match(name):
        raise LabstackError(f"{meta}: an [[apps]] name must be lowercase letters, digits and '-' (its route is /<name>/)")
    if not isinstance(command, list) or not command or not all(isinstance(p, str) for p in command):
        raise LabstackError(f"{meta}: app {name!r} needs command, a list of strings (a layer without a Dockerfile "
                            "starts its apps from it)")
    if not any("{port}" in p or "{unix_socket}" in p for p in command):
        raise LabstackError(f"{meta}: app {name!r}: its command takes neither {{port}} nor {{unix_socket}}, "
                            "so it would not listen where Jupyter's proxy reaches it")
    for part in command:
        address = part.split("=", 1)[1] if part.startswith("--") and "=" in part else part
        if address in EVERY_ADDRESS or address.startswith(("0.0.0.0:", "[::]:")):
            raise LabstackError(f"{meta}: app {name!r} binds {address}: a declared app listens on 127.0.0.1 or a "
                                "unix socket only, behind Jupyter's authentication")
    icon = entry.get("icon", "")
    if icon and (not (meta.parent / icon).is_file() or Path(icon).is_absolute() or ".." in Path(icon).parts):
        raise LabstackError(f"{meta}: app {name!r}: icon {icon!r} is not a file in {meta.parent}")
    timeout = entry.get("timeout", 60)
    if not isinstance(timeout, int) or timeout <= 0:
        raise LabstackError(f"{meta}: app {name!r}: timeout must be a positive number of seconds")
    return DeclaredApp(name=name, title=entry.get("title", name), command=tuple(command), icon=icon,
                       absolute_url=bool(entry.get("absolute_url", False)), timeout=timeout)


def icon_path(layer: str, app: DeclaredApp) -> str:
    return f"{IMAGE_FOLDER.format(name=layer)}/{app.icon}" if app.icon else ""


def render_drop_in(layer: str, declaration: Declaration) -> str:
    """The /etc/jupyter/labstack.d/ file that puts the layer's apps behind jupyter-server-proxy."""
    folder = IMAGE_FOLDER.format(name=layer)
    lines = [f'"""Rendered by labstack from the {layer} layer\'s image.toml: its apps behind jupyter-server-proxy."""', ""]
    for app in declaration.apps:
        entry = {
            # {folder} is labstack's; jupyter-server-proxy fills in {port}, {unix_socket} and {base_url}
            "command": [part.replace("{folder}", folder) for part in app.command],
            "absolute_url": app.absolute_url,
            "launcher_entry": {"title": app.title, **({"icon_path": icon_path(layer, app)} if app.icon else {})},
        }
        if app.unix_socket:
            entry["unix_socket"] = True
        lines.append(f"c.ServerProxy.servers[{app.name!r}] = {{  # noqa: F821 - `c` is passed in by the main config")
        lines += [f"    {key!r}: {value!r}," for key, value in entry.items()]
        lines.append(f"    'timeout': max(LABSTACK_DEFAULT_TIMEOUT, {app.timeout}),  # noqa: F821")
        lines.append("}")
    return "\n".join(lines) + "\n"


def render_dockerfile(layer: str, parent: str, declaration: Declaration, staged: str) -> str:
    """The Dockerfile for the layer, reading what staging.stage_declared wrote in `staged` (a path
    relative to the build context, the repository root)."""
    folder = IMAGE_FOLDER.format(name=layer)
    parts = [f"""\
        # Rendered by labstack from the {layer} layer's image.toml (`build.py render {layer}` prints it).
        # To take it over: save it as the layer folder's Dockerfile, the drop-in below beside it, and
        # point the COPY lines at the folder (images/{layer}/ when it is in labstack's checkout).
        ARG BASE_IMAGE=labstack/{parent}:latest
        FROM ${{BASE_IMAGE}}
        USER root
        """]
    if declaration.apt:
        parts.append(f"""\
            RUN --mount=type=secret,id=ca_bundle \\
                /usr/local/lib/labstack/apt-install {' '.join(declaration.apt)}
            """)
    if declaration.r:
        parts.append(f"""\
            # each from Debian (r-cran-<name>) where Debian has it, else from the image's CRAN mirror;
            # --build-arg LABSTACK_CRAN_URL=... names another for this layer
            ARG LABSTACK_CRAN_URL=
            RUN --mount=type=secret,id=ca_bundle \\
                /usr/local/lib/labstack/install-r-packages {' '.join(declaration.r)}
            """)
    if declaration.pip:
        pins = " ".join(f'"{pin}"' for pin in declaration.pip)
        parts.append(f"""\
            # into the Jupyter environment, under its lock: a pin that disagrees with the lock fails here
            RUN --mount=type=secret,id=ca_bundle \\
                . /usr/local/lib/labstack/ca-env.sh && \\
                pip install --no-cache-dir --constraint /usr/local/lib/labstack/jupyter-lock.txt {pins}
            """)
    parts.append(f"""\
        COPY {staged}/folder/ {folder}/
        """)
    if declaration.apps:
        parts.append(f"""\
            COPY {staged}/60-{layer}.py /etc/jupyter/labstack.d/60-{layer}.py
            """)
    label = "; ".join(f"{kind}: {' '.join(getattr(declaration, kind))}" for kind in PACKAGE_KINDS
                      if getattr(declaration, kind))
    parts.append(f"""\
        LABEL io.labstack.{layer}.declared="{label or 'apps only'}"
        # This layer's declaration, which the image reads at run time (what counts as activity: image.toml)
        COPY {staged}/folder/image.toml /usr/local/share/labstack/layers/{layer}.toml
        USER ${{NB_UID}}
        WORKDIR /home/jovyan
        """)
    return "".join(textwrap.dedent(part) for part in parts)
