"""Zero-to-JupyterHub profileList entries for built images (Helm values, YAML)."""
from __future__ import annotations

from .graph import Graph
from .naming import Naming


def profile_list(graph: Graph, specs: list[str], naming: Naming) -> dict:
    profiles = []
    for number, spec in enumerate(specs):
        steps = graph.plan(spec)
        image = steps[-1].image
        layers = [step.layer.name for step in steps]
        # what users see in the spawn form: the apps each layer declares in its image.toml
        apps = [f"{app.title} at {app.default_url}" for name in layers for app in graph.layer(name).apps] or \
            [graph.layer(name).description for name in layers]
        profile = {
            "display_name": " + ".join(part for part in spec.split("+")),
            "slug": image,
            "description": "; ".join(dict.fromkeys(apps)),
            "kubespawner_override": {
                "image": naming.tags(image)[0],
                # Our images start jupyterhub-singleuser themselves when a hub spawns them.
                "cmd": ["start-jupyter"],
                "default_url": "/lab",
            },
        }
        if number == 0:
            profile["default"] = True
        profiles.append(profile)
    return {"singleuser": {"profileList": profiles}}
