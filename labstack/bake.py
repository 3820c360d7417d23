"""Emit the image graph as a `docker buildx bake` file (JSON), for BuildKit builders beyond one machine.

Each step becomes a target; a child reaches its parent through a named context ("target:<parent>"),
which BASE_IMAGE names, so bake builds the chain in order and in parallel where it can.
"""
from __future__ import annotations

from . import __version__
from .builder import BuildSettings, check_ca_bundle
from .graph import Graph


def bake_file(graph: Graph, specs: list[str], settings: BuildSettings) -> dict:
    targets: dict[str, dict] = {}
    ca_bundle = check_ca_bundle(settings.ca_bundle)
    for spec in specs:
        steps = graph.plan(spec)
        for step in steps:
            if step.image in targets:
                continue
            args = {"LABSTACK_VERSION": __version__,
                    "KEEP_CA_BUNDLE": "1" if settings.keep_ca_bundle else "0"}
            args.update(settings.layer_args.get(step.layer.name, {}))
            args.update(settings.build_args)
            target: dict = {
                "context": ".",
                "dockerfile": str(step.layer.dockerfile.relative_to(graph_root(graph))),
                "tags": settings.naming.tags(step.image),
                "args": args,
            }
            if ca_bundle:
                target["secret"] = [f"id=ca_bundle,src={ca_bundle}"]
            if step.parent_image:
                context_name = f"labstack-parent-{step.parent_image}"
                root_name = f"labstack-parent-{steps[0].image}"
                args[step.layer.source_arg] = context_name
                args["BUILDER_IMAGE"] = root_name
                target["contexts"] = {context_name: f"target:{step.parent_image}",
                                      root_name: f"target:{steps[0].image}"}
            else:
                args[step.layer.source_arg] = settings.base_image
            if settings.platform:
                target["platforms"] = [p.strip() for p in settings.platform.split(",")]
            targets[step.image] = target
    return {"group": {"default": {"targets": list(targets)}}, "target": targets}


def graph_root(graph: Graph):
    first = next(iter(graph.layers.values()))
    return first.folder.parent.parent
