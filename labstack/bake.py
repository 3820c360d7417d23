"""Emit the image graph as a `docker buildx bake` file (JSON), for BuildKit builders beyond one machine.

Each step becomes a target; a child reaches its parent through a named context ("target:<parent>"),
which BASE_IMAGE names, so bake builds the chain in order and in parallel where it can.

No `network` key: buildx 0.13 (Debian trixie's) refuses the file with "unknown key: network". Which
network RUN steps get is the builder's to say (`docker buildx create --driver-opt network=host` for a
docker-container builder); `build.py bake --network` says so and writes nothing for it.
"""
from __future__ import annotations

from .builder import step_build_args
from .settings import BuildSettings, check_ca_bundle
from .graph import Graph
from .staging import stage_layer


def bake_file(graph: Graph, specs: list[str], settings: BuildSettings) -> dict:
    targets: dict[str, dict] = {}
    ca_bundle = check_ca_bundle(settings.ca_bundle)
    for spec in specs:
        steps = graph.plan(spec)
        for step in steps:
            if step.image in targets:
                continue
            if step.parent_image:
                # a child reaches its parent (and the chain's root, for builder stages) by named context
                parent, root = f"labstack-parent-{step.parent_image}", f"labstack-parent-{steps[0].image}"
                contexts = {parent: f"target:{step.parent_image}", root: f"target:{steps[0].image}"}
            else:
                parent = root = settings.base_image
                contexts = {}
            # the files the Dockerfiles bind-mount (a .deb, .vsix files), a declared layer's rendering
            stage_layer(step.layer, settings.layer_files.get(step.layer.name, []))
            outside = step.layer.outside and not step.layer.declaration  # an admin's layer, its own Dockerfile
            target: dict = {
                "context": str(step.layer.context) if outside else ".",
                "dockerfile": "Dockerfile" if outside else str(step.layer.dockerfile.relative_to(graph_root(graph))),
                "tags": settings.naming.tags(step.image),
                "args": step_build_args(step, settings, parent, root),
            }
            if contexts:
                target["contexts"] = contexts
            if ca_bundle:
                target["secret"] = [f"id=ca_bundle,src={ca_bundle}"]
            if settings.no_cache or step.layer.name in settings.no_cache_layers:
                target["no-cache"] = True
            if settings.platform:
                target["platforms"] = [p.strip() for p in settings.platform.split(",")]
            targets[step.image] = target
    return {"group": {"default": {"targets": list(targets)}}, "target": targets}


def graph_root(graph: Graph):
    first = next(iter(graph.layers.values()))
    return first.folder.parent.parent
