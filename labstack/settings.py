"""One settings path: the build flags, their environment defaults, and the BuildSettings they make.

build.py adds these flags to every command that builds (build, test, run, bake; migrate and lock take
the engine's part) and turns them into settings here; the image tests get the same object (build.py
test hands it to pytest as JSON) or, run by hand, make it here from the environment alone. No other
place decides a setting, or reads the environment variable behind one.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import LabstackError

from .baseimage import DEFAULT_BASE_IMAGE
from .graph import Graph
from .layer_flags import add_layer_flags, layer_settings
from .tags import Naming


# RUN steps use the host's network unless told otherwise: it works where the engine's bridge does not
# (an intercepting proxy on the host's loopback, no bridge at all), and `make` and build.py share one
# build cache only if they agree (BuildKit's cache keys include the network mode). `default` is the
# engine's own bridge.
DEFAULT_NETWORK = "host"


@dataclass
class BuildSettings:
    naming: Naming
    base_image: str = DEFAULT_BASE_IMAGE
    ca_bundle: Path | None = None
    ca_bundle_from_host: bool = False  # no --ca-bundle given: the host's own bundle, said once the build starts
    keep_ca_bundle: bool = False
    network: str | None = None
    no_cache: bool = False
    no_cache_layers: frozenset[str] = frozenset()  # rebuild only these layers afresh (parents from cache)
    platform: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    # per layer: extra build args and files to stage (the "hooks" of each layer)
    layer_args: dict[str, dict[str, str]] = field(default_factory=dict)
    layer_files: dict[str, list[Path]] = field(default_factory=dict)



def check_ca_bundle(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        raise LabstackError(f"cannot read CA bundle {path}: {error.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise LabstackError(f"CA bundle {path} holds no PEM certificate")
    return path.resolve()


# Where Debian, Fedora/RHEL, Alpine and macOS keep the system's CA bundle, after what OpenSSL says.
HOST_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def host_ca_bundle() -> Path | None:
    """The host's own CA bundle: a machine that trusts an intercepting proxy builds with no flag."""
    import ssl

    for candidate in (ssl.get_default_verify_paths().cafile, *HOST_CA_BUNDLES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def parse_build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_naming_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="registry host[:port] (env REGISTRY; default: none)")
    parser.add_argument("--owner", help="owner/namespace (env OWNER; default: labstack)")
    parser.add_argument("--tag", help="main tag (env TAG; default: latest)")


def add_ca_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-bundle", type=Path,
                        help="PEM bundle trusted by apt, pip, npm and curl during the build, as a build secret "
                             "(env LABSTACK_CA_BUNDLE; default: the host's own bundle); not kept in the image "
                             "unless --keep-ca-bundle")
    parser.add_argument("--no-host-ca", action="store_true", default=None,
                        help="without --ca-bundle, pass no CA bundle at all (env LABSTACK_NO_HOST_CA=1)")


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """What every build on the engine takes, migrate's included."""
    add_ca_flags(parser)
    parser.add_argument("--network", help=f"network mode for RUN steps (env LABSTACK_NETWORK; default: "
                                          f"{DEFAULT_NETWORK}; `default` for the engine's bridge)")
    parser.add_argument("--no-cache", action="store_true", help="build every layer afresh")
    parser.add_argument("--build-arg", action="append", type=parse_build_arg, default=[],
                        metavar="KEY=VALUE", help="extra build argument for every layer (repeatable)")


def add_build_flags(parser: argparse.ArgumentParser, graph: Graph) -> None:
    add_naming_flags(parser)
    parser.add_argument("--base-image", help=f"external image the base layer is built FROM (env BASE_IMAGE; "
                                             f"default: {DEFAULT_BASE_IMAGE}; bootstrapped with debootstrap when it "
                                             f"cannot be pulled)")
    parser.add_argument("--keep-ca-bundle", action="store_true",
                        help="also add the CA bundle to the image's system trust store")
    add_engine_flags(parser)
    parser.add_argument("--no-cache-layer", action="append", default=[], metavar="NAME",
                        help="build this layer afresh, its parents from cache (repeatable)")
    parser.add_argument("--platform", help="target platform, e.g. linux/amd64 (where the engine supports it)")
    add_layer_flags(parser, graph)


def ca_bundle(given: Path | None, no_host_ca: bool | None, env: dict[str, str]) -> tuple[Path | None, bool]:
    """(the bundle, whether it is the host's own): --ca-bundle, LABSTACK_CA_BUNDLE, else the host's."""
    chosen = given or (Path(env["LABSTACK_CA_BUNDLE"]) if env.get("LABSTACK_CA_BUNDLE") else None)
    if chosen or no_host_ca or env.get("LABSTACK_NO_HOST_CA") == "1":
        return chosen, False
    host = host_ca_bundle()
    return host, host is not None


def network(given: str | None, env: dict[str, str]) -> str | None:
    """The network mode RUN steps get (None: the engine's default bridge, no --network at all)."""
    mode = given or env.get("LABSTACK_NETWORK") or DEFAULT_NETWORK
    return None if mode == "default" else mode


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
        network=network(args.network, env),
        no_cache=args.no_cache,
        no_cache_layers=frozenset(args.no_cache_layer),
        platform=args.platform,
        build_args=dict(args.build_arg),
        layer_args=layer_args,
        layer_files=layer_files,
    )


# Where migrate's R containers get IRkernel when they lack it.
DEFAULT_CRAN_URL = "https://cloud.r-project.org"


def add_migrate_flags(parser: argparse.ArgumentParser) -> None:
    """The settings part of `build.py migrate`: where the image goes and what its build takes."""
    parser.add_argument("--registry", help="registry host[:port] (env REGISTRY; default: none)")
    parser.add_argument("--owner", help="owner/namespace (env OWNER; default: labstack)")
    parser.add_argument("--cran-url", help=f"R containers: the CRAN mirror IRkernel is installed from when the "
                                           f"container lacks it (env LABSTACK_CRAN_URL; default {DEFAULT_CRAN_URL})")
    add_engine_flags(parser)


def migrate_settings(args: argparse.Namespace, env: dict[str, str] | None = None) -> dict:
    """migrate()'s keyword arguments for what add_migrate_flags declares."""
    env = dict(os.environ if env is None else env)
    naming = Naming.from_environment(args.registry, args.owner, None)
    return dict(owner=naming.owner, registry=naming.registry, tag=naming.tag,
                ca_bundle=ca_bundle(args.ca_bundle, args.no_host_ca, env)[0],
                network=network(args.network, env), no_cache=args.no_cache, build_args=dict(args.build_arg),
                cran_url=args.cran_url or env.get("LABSTACK_CRAN_URL") or DEFAULT_CRAN_URL)


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
