"""One settings path: the build flags, their environment defaults, and the BuildSettings they make.

build.py adds these flags to every command that builds (build, test, run, bake) and turns them into
BuildSettings here; the image tests get the same object (build.py test hands it to pytest as JSON) or,
run by hand, make it here from the environment alone. No other place decides a setting.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from .baseimage import DEFAULT_BASE_IMAGE
from .builder import BuildSettings, host_ca_bundle
from .graph import Graph
from .layers import add_layer_flags, layer_settings
from .naming import Naming


def parse_build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_naming_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="registry host[:port] (env REGISTRY; default: none)")
    parser.add_argument("--owner", help="owner/namespace (env OWNER; default: labstack)")
    parser.add_argument("--tag", help="main tag (env TAG; default: latest)")


def add_build_flags(parser: argparse.ArgumentParser, graph: Graph) -> None:
    add_naming_flags(parser)
    parser.add_argument("--base-image", help=f"external image the base layer is built FROM (env BASE_IMAGE; "
                                             f"default: {DEFAULT_BASE_IMAGE}; bootstrapped with debootstrap when it "
                                             f"cannot be pulled)")
    parser.add_argument("--ca-bundle", type=Path,
                        help="PEM bundle trusted by apt, pip, npm and curl during the build, as a build secret "
                             "(env LABSTACK_CA_BUNDLE; default: the host's own bundle); not kept in the image "
                             "unless --keep-ca-bundle")
    parser.add_argument("--no-host-ca", action="store_true", default=None,
                        help="without --ca-bundle, pass no CA bundle at all (env LABSTACK_NO_HOST_CA=1)")
    parser.add_argument("--keep-ca-bundle", action="store_true",
                        help="also add the CA bundle to the image's system trust store")
    parser.add_argument("--network", help="network mode for RUN steps, e.g. host (env LABSTACK_NETWORK)")
    parser.add_argument("--no-cache", action="store_true", help="build every layer afresh")
    parser.add_argument("--no-cache-layer", action="append", default=[], metavar="NAME",
                        help="build this layer afresh, its parents from cache (repeatable)")
    parser.add_argument("--build-arg", action="append", type=parse_build_arg, default=[],
                        metavar="KEY=VALUE", help="extra build argument for every layer (repeatable)")
    parser.add_argument("--platform", help="target platform, e.g. linux/amd64 (where the engine supports it)")
    add_layer_flags(parser, graph)


def ca_bundle(given: Path | None, no_host_ca: bool | None, env: dict[str, str]) -> tuple[Path | None, bool]:
    """(the bundle, whether it is the host's own): --ca-bundle, LABSTACK_CA_BUNDLE, else the host's."""
    chosen = given or (Path(env["LABSTACK_CA_BUNDLE"]) if env.get("LABSTACK_CA_BUNDLE") else None)
    if chosen or no_host_ca or env.get("LABSTACK_NO_HOST_CA") == "1":
        return chosen, False
    host = host_ca_bundle()
    return host, host is not None


def build_settings(args: argparse.Namespace, graph: Graph, env: dict[str, str] | None = None) -> BuildSettings:
    env = dict(os.environ if env is None else env)
    layer_args, layer_files = layer_settings(graph, vars(args), env)
    bundle, from_host = ca_bundle(args.ca_bundle, args.no_host_ca, env)
    return BuildSettings(
        naming=Naming.from_environment(args.registry, args.owner, args.tag),
        base_image=args.base_image or env.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE,
        ca_bundle=bundle,
        ca_bundle_from_host=from_host,
        keep_ca_bundle=args.keep_ca_bundle,
        network=args.network or env.get("LABSTACK_NETWORK") or None,
        no_cache=args.no_cache,
        no_cache_layers=frozenset(args.no_cache_layer),
        platform=args.platform,
        build_args=dict(args.build_arg),
        layer_args=layer_args,
        layer_files=layer_files,
    )


def from_environment(graph: Graph, argv: list[str] | None = None) -> BuildSettings:
    """The settings a command with these flags (none: the environment's defaults alone) would build with."""
    parser = argparse.ArgumentParser(add_help=False)
    add_build_flags(parser, graph)
    return build_settings(parser.parse_args(argv or []), graph)


def to_json(settings: BuildSettings) -> str:
    data = dataclasses.asdict(settings)
    data["no_cache_layers"] = sorted(settings.no_cache_layers)
    return json.dumps(data, default=str)


def from_json(text: str) -> BuildSettings:
    data = json.loads(text)
    data["naming"] = Naming(**data["naming"])
    data["ca_bundle"] = Path(data["ca_bundle"]) if data["ca_bundle"] else None
    data["no_cache_layers"] = frozenset(data["no_cache_layers"])
    data["layer_files"] = {layer: [Path(p) for p in files] for layer, files in data["layer_files"].items()}
    return BuildSettings(**data)
