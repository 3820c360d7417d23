"""The image graph: read from images/*/image.toml, resolved into ordered build steps.

A spec names one image ("code-server") or a combination ("rstudio+code-server"): each layer after the
first is built with its own Dockerfile on top of the image before it, so the combination is
code-server's Dockerfile with BASE_IMAGE set to the rstudio image.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import LabstackError


@dataclass(frozen=True)
class Layer:
    name: str
    parent: str  # "" means: FROM the external base image
    description: str
    folder: Path
    migration: bool = False
    source_arg: str = "BASE_IMAGE"

    @property
    def dockerfile(self) -> Path:
        return self.folder / "Dockerfile"


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


def load_graph(images_dir: Path) -> Graph:
    graph = Graph()
    for meta in sorted(images_dir.glob("*/image.toml")):
        try:
            data = tomllib.loads(meta.read_text())
        except tomllib.TOMLDecodeError as error:
            raise LabstackError(f"{meta}: {error}") from None
        folder = meta.parent
        name = data.get("name", folder.name)
        if name != folder.name:
            raise LabstackError(f"{meta}: name {name!r} differs from its folder {folder.name!r}")
        if not (folder / "Dockerfile").is_file():
            raise LabstackError(f"{folder}: no Dockerfile")
        graph.layers[name] = Layer(
            name=name,
            parent=data.get("parent", ""),
            description=data.get("description", ""),
            folder=folder,
            migration=bool(data.get("migration", False)),
            source_arg=data.get("source_arg", "BASE_IMAGE"),
        )
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
