"""The image graph: read from images/*/image.toml, resolved into ordered build steps.

A spec names one image ("code-server") or a combination ("rstudio+code-server"): each layer after the
first is built with its own Dockerfile on top of the image before it, so the combination is
code-server's Dockerfile with BASE_IMAGE set to the rstudio image.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import LabstackError
from .declared import Declaration, read_declaration
from .staging import declared_folder


@dataclass(frozen=True)
class App:
    """A web app a layer adds behind jupyter-server-proxy (or JupyterLab itself)."""
    name: str  # the server's name: its route is /<name>/
    title: str
    default_url: str
    unless: tuple[tuple[str, str], ...] = ()  # absent when the image was built with these build args
    standalone: str = ""  # a command in the image that serves the app alone behind the hub (no notebook server)
    marker: str = ""  # a text its landing page answers with once the app is up: what the tests look for
    process: str = ""  # a `pkill -f` pattern of its processes (written not to match itself): the crash tests'
    # [apps.activity]: what of the browser's traffic is a person (labstack_proxy/activity.py reads the
    # same table in the image): (key, patterns) for idle_requests, person_messages, idle_messages
    activity: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def route(self) -> str:
        return f"/{self.name}/"


@dataclass(frozen=True)
class Version:
    """A component whose version is measured from the built image: `command` prints it."""
    name: str  # the label is io.labstack.<name>.version
    command: str  # a shell command run in the image
    tag: str = ""  # when set, the image is also tagged <tag>-<version>


FLAG_KINDS = ("switch", "file", "files", "value")


@dataclass(frozen=True)
class LayerFlag:
    """A build.py flag a layer declares: the build arguments it sets and the files it stages."""
    layer: str
    flag: str  # "--rstudio-deb"
    kind: str  # "switch" (on/off), "file" (one local file, staged), "files" (repeatable), "value" (a string)
    help: str
    env: str = ""  # an environment variable that gives the default
    build_args: tuple[tuple[str, str], ...] = ()  # "{deb_version}" is a staged .deb's version
    test_fallback: str = ""  # a switch the tests turn on when a build fails with this message

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Layer:
    name: str
    parent: str  # "" means: FROM the external base image
    description: str
    folder: Path
    migration: bool = False
    source_arg: str = "BASE_IMAGE"
    apps: tuple[App, ...] = ()
    flags: tuple[LayerFlag, ...] = ()
    stackable: bool = False  # also built on top of each sibling layer ("rstudio+code-server") by `test all`
    test_needs: tuple[str, ...] = ()  # images a layer built from a container is tested with
    versions: tuple[Version, ...] = ()
    declaration: Declaration | None = None  # a folder without a Dockerfile: what labstack renders one from
    outside: bool = False  # from an admin's folder of layers (--layers), not labstack's images/

    @property
    def context(self) -> Path:
        """The build context: the repository root (a declared layer is staged there), or an outside
        layer's own folder, which its own Dockerfile copies from."""
        from . import REPO_ROOT

        return self.folder if self.outside and not self.declaration else REPO_ROOT

    @property
    def dockerfile(self) -> Path:
        """The folder's own, or the one rendered from its declaration (written when it is built)."""
        return declared_folder(self.name) / "Dockerfile" if self.declaration else self.folder / "Dockerfile"


@dataclass(frozen=True)
class BuildStep:
    image: str  # the image name this step produces, e.g. "rstudio-code-server"
    layer: Layer  # whose Dockerfile builds it
    parent_image: str | None  # image name of the step it builds on; None: the external base image


@dataclass
class Graph:
    layers: dict[str, Layer] = field(default_factory=dict)

    def layer(self, name: str) -> Layer:
        if name not in self.layers:
            known = ", ".join(sorted(self.layers))
            raise LabstackError(f"unknown image {name!r} (known: {known})")
        return self.layers[name]

    def apps(self, spec: str | None = None) -> list[App]:
        """The apps of every layer (or of the layers an image of `spec` is built from), in graph order."""
        layers = [step.layer for step in self.plan(spec)] if spec else list(self.layers.values())
        return [app for layer in layers for app in layer.apps]

    def ancestry(self, name: str) -> list[Layer]:
        """The layer and its parents, root first."""
        chain: list[Layer] = []
        layer = self.layer(name)
        while True:
            chain.insert(0, layer)
            if not layer.parent:
                return chain
            layer = self.layer(layer.parent)

    def plan(self, spec: str) -> list[BuildStep]:
        names = [part.strip() for part in spec.split("+")]
        if not spec or any(not name for name in names):
            raise LabstackError(f"bad image spec {spec!r}: expected NAME or NAME+NAME")
        if len(set(names)) != len(names):
            raise LabstackError(f"bad image spec {spec!r}: a layer appears twice")
        for name in names:
            if self.layer(name).migration:
                raise LabstackError(f"{name!r} is built from a container: use `build.py migrate`")
        steps: list[BuildStep] = []
        parent_image: str | None = None
        for layer in self.ancestry(names[0]):
            steps.append(BuildStep(layer.name, layer, parent_image))
            parent_image = layer.name
        built = {layer.name for layer in self.ancestry(names[0])}
        for name in names[1:]:
            layer = self.layer(name)
            if not layer.parent:  # built from a bare OS image: its Dockerfile can't go on top of another
                raise LabstackError(f"bad image spec {spec!r}: {name!r} has no parent layer, so it can only come first")
            missing = [a.name for a in self.ancestry(name)[:-1] if a.name not in built]
            if missing:
                raise LabstackError(
                    f"bad image spec {spec!r}: {name!r} needs {', '.join(missing)} below it"
                )
            image = f"{parent_image}-{name}"
            steps.append(BuildStep(image, layer, parent_image))
            built.add(name)
            parent_image = image
        return steps


def images_dir() -> Path:
    """This checkout's images/, or LABSTACK_IMAGES_DIR (a test adds a layer in a folder of its own)."""
    import os

    from . import REPO_ROOT

    return Path(os.environ.get("LABSTACK_IMAGES_DIR") or REPO_ROOT / "images")


LAYERS_VARIABLE = "LABSTACK_LAYERS"  # an admin's folders of layers, os.pathsep-separated; --layers adds more


def layer_folders(given=()) -> list[Path]:
    """An admin's own folders of layers, beside labstack's: LABSTACK_LAYERS, then build.py --layers."""
    import os

    named = [Path(p) for p in os.environ.get(LAYERS_VARIABLE, "").split(os.pathsep) if p] + [Path(p) for p in given]
    for folder in named:
        if not folder.is_dir():
            raise LabstackError(f"--layers {folder}: no such folder")
    return list(dict.fromkeys(folder.resolve() for folder in named))  # once each, in order


def load_graph(images_dir: Path, *more: Path) -> Graph:
    """The layers of images_dir and of each further folder (an admin's own): one graph, names unique."""
    graph = Graph()
    metas = [meta for folder in (images_dir, *more) for meta in sorted(Path(folder).glob("*/image.toml"))]
    for meta in metas:
        try:
            data = tomllib.loads(meta.read_text())
        except tomllib.TOMLDecodeError as error:
            raise LabstackError(f"{meta}: {error}") from None
        folder = meta.parent
        name = data.get("name", folder.name)
        if name != folder.name:
            raise LabstackError(f"{meta}: name {name!r} differs from its folder {folder.name!r}")
        if name in graph.layers:
            raise LabstackError(f"two layers are named {name!r}: {graph.layers[name].folder} and {folder}")
        declaration = None
        if not (folder / "Dockerfile").is_file():
            declaration = read_declaration(meta, data)
        elif "packages" in data or any("command" in app for app in data.get("apps", [])):
            raise LabstackError(f"{meta}: [packages] and app commands are for a layer without a Dockerfile; "
                                f"this one has one (install them there)")
        graph.layers[name] = Layer(
            name=name,
            parent=data.get("parent", ""),
            description=data.get("description", ""),
            folder=folder,
            migration=bool(data.get("migration", False)),
            source_arg=data.get("source_arg", "BASE_IMAGE"),
            apps=tuple(_app(meta, entry, declared=declaration is not None) for entry in data.get("apps", [])),
            flags=tuple(_flag(meta, name, entry) for entry in data.get("flags", [])),
            stackable=bool(data.get("stackable", False)),
            test_needs=tuple(data.get("test_needs", [])),
            versions=tuple(_version(meta, entry) for entry in data.get("versions", [])),
            declaration=declaration,
            outside=Path(meta).parent.parent.resolve() != Path(images_dir).resolve(),
        )
    flags = [flag.flag for layer in graph.layers.values() for flag in layer.flags]
    for flag in set(flags):
        if flags.count(flag) > 1:
            raise LabstackError(f"two layers declare the flag {flag}")
    for layer in graph.layers.values():
        if layer.parent:
            graph.layer(layer.parent)  # unknown parents fail here, not halfway through a build
        seen = set()
        name = layer.name
        while name:
            if name in seen:
                raise LabstackError(f"image graph has a cycle through {name!r}")
            seen.add(name)
            name = graph.layers[name].parent
    return graph


def _app(meta: Path, entry: dict, declared: bool = False) -> App:
    # a declared app can run alone too: labstack-alone starts it from the entry labstack rendered
    alone = entry.get("standalone", f"labstack-alone {entry.get('name')}" if declared else "")
    try:
        return App(name=entry["name"], title=entry["title"], default_url=entry.get("default_url", f"/{entry['name']}/"),
                   unless=tuple(sorted(entry.get("unless", {}).items())), standalone=alone,
                   marker=entry["marker"], process=entry.get("process", ""),
                   activity=_activity(meta, entry.get("name", "?"), entry.get("activity", {})))
    except KeyError as missing:
        raise LabstackError(f"{meta}: an [[apps]] entry needs {missing} (see images/base/image.toml)") from None


ACTIVITY_KEYS = ("idle_requests", "person_messages", "idle_messages")


def _activity(meta: Path, app: str, table: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """An [apps.activity] table checked as the image will read it: known keys, lists of regexes."""
    unknown = sorted(set(table) - set(ACTIVITY_KEYS))
    if unknown:
        raise LabstackError(f"{meta}: app {app!r}: [apps.activity] has no {unknown[0]!r} "
                            f"(it takes {', '.join(ACTIVITY_KEYS)})")
    rules = []
    for key in ACTIVITY_KEYS:
        patterns = table.get(key, [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise LabstackError(f"{meta}: app {app!r}: activity {key} must be a list of regular expressions")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise LabstackError(f"{meta}: app {app!r}: activity {key} {pattern!r} is not a regular "
                                    f"expression: {error}") from None
        if patterns:
            rules.append((key, tuple(patterns)))
    return tuple(rules)


def _version(meta: Path, entry: dict) -> Version:
    if not entry.get("name") or not entry.get("command"):
        raise LabstackError(f"{meta}: a [[versions]] entry needs name and command")
    return Version(name=entry["name"], command=entry["command"], tag=entry.get("tag", ""))


def _flag(meta: Path, layer: str, entry: dict) -> LayerFlag:
    flag = entry.get("flag", "")
    if not flag.startswith("--") or entry.get("kind") not in FLAG_KINDS or not entry.get("help"):
        raise LabstackError(f"{meta}: a [[flags]] entry needs flag (--name), kind ({', '.join(FLAG_KINDS)}) and help")
    return LayerFlag(layer=layer, flag=flag, kind=entry["kind"], help=entry["help"], env=entry.get("env", ""),
                     build_args=tuple(sorted(entry.get("build_args", {}).items())),
                     test_fallback=entry.get("test_fallback", ""))
