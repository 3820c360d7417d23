#!/usr/bin/env python3
"""labstack command line: build, boot and probe layered Jupyter images. See README.md."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from labstack import REPO_ROOT, LabstackError
from labstack.graph import load_graph
from labstack.layers import rstudio_hooks
from labstack.naming import Naming


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_naming_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="registry host[:port] (env REGISTRY; default: none)")
    parser.add_argument("--owner", help="owner/namespace (env OWNER; default: labstack)")
    parser.add_argument("--tag", help="main tag (env TAG; default: latest)")


def add_build_flags(parser: argparse.ArgumentParser) -> None:
    add_naming_flags(parser)
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE", "debian:bookworm-slim"),
                        help="external image the base layer is built FROM (default: debian:bookworm-slim; "
                             "bootstrapped with debootstrap when it cannot be pulled)")
    parser.add_argument("--ca-bundle", type=Path, default=os.environ.get("LABSTACK_CA_BUNDLE") or None,
                        help="PEM bundle trusted by apt, pip, npm and curl during the build "
                             "(env LABSTACK_CA_BUNDLE); not kept in the image unless --keep-ca-bundle")
    parser.add_argument("--no-host-ca", action="store_true",
                        help="without --ca-bundle, do not pass the host's own CA bundle to the build")
    parser.add_argument("--keep-ca-bundle", action="store_true",
                        help="also add the CA bundle to the image's system trust store")
    parser.add_argument("--network", default=os.environ.get("LABSTACK_NETWORK") or None,
                        help="network mode for RUN steps, e.g. host (env LABSTACK_NETWORK)")
    parser.add_argument("--no-cache", action="store_true", help="build every layer afresh")
    parser.add_argument("--no-cache-layer", action="append", default=[], metavar="NAME",
                        help="build this layer afresh, its parents from cache (repeatable)")
    parser.add_argument("--build-arg", action="append", type=parse_build_arg, default=[],
                        metavar="KEY=VALUE", help="extra build argument for every layer (repeatable)")
    parser.add_argument("--platform", help="target platform, e.g. linux/amd64 (where the engine supports it)")
    parser.add_argument("--rstudio-deb", type=Path, help="local RStudio Server .deb for the rstudio layer")
    parser.add_argument("--without-rstudio", action="store_true", default=None,
                        help="build the rstudio layer without RStudio Server (R, IRkernel, Shiny only); "
                             "env LABSTACK_WITHOUT_RSTUDIO=1 does the same unless --rstudio-deb is given")
    parser.add_argument("--vsix", type=Path, action="append", default=[],
                        help="bundle this .vsix extension into the code-server layer (repeatable)")


def build_ca_bundle(args: argparse.Namespace) -> Path | None:
    """--ca-bundle, else the host's own bundle (a build secret, in no layer) unless --no-host-ca."""
    from labstack.builder import host_ca_bundle

    if args.ca_bundle or args.no_host_ca:
        return args.ca_bundle
    return host_ca_bundle()


def build_settings(args: argparse.Namespace):
    from labstack.builder import BuildSettings

    if args.without_rstudio is None:  # the environment's default yields to an explicit --rstudio-deb
        args.without_rstudio = os.environ.get("LABSTACK_WITHOUT_RSTUDIO") == "1" and not args.rstudio_deb

    layer_args: dict[str, dict[str, str]] = {}
    layer_files: dict[str, list[Path]] = {}
    if args.without_rstudio or args.rstudio_deb:
        layer_args["rstudio"], layer_files["rstudio"] = rstudio_hooks(args.without_rstudio, args.rstudio_deb)
    if args.vsix:
        layer_files["code-server"] = list(args.vsix)
    return BuildSettings(
        naming=Naming.from_environment(args.registry, args.owner, args.tag),
        base_image=args.base_image,
        ca_bundle=build_ca_bundle(args),
        ca_bundle_from_host=not (args.ca_bundle or args.no_host_ca),
        keep_ca_bundle=args.keep_ca_bundle,
        network=args.network,
        no_cache=args.no_cache,
        no_cache_layers=frozenset(args.no_cache_layer),
        platform=args.platform,
        build_args=dict(args.build_arg),
        layer_args=layer_args,
        layer_files=layer_files,
    )


def cmd_list(args: argparse.Namespace) -> int:
    graph = load_graph(REPO_ROOT / "images")
    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    print(f"{'NAME':<14} {'PARENT':<22} TAGS")
    for layer in graph.layers.values():
        parent = "(committed container)" if layer.migration else (layer.parent or "(base image)")
        tags = "built by `build.py migrate`" if layer.migration else ", ".join(naming.tags(layer.name))
        print(f"{layer.name:<14} {parent:<22} {tags}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from labstack.builder import build_spec

    settings = build_settings(args)
    for spec in args.specs:
        built = build_spec(spec, settings, log)
        for image in built:
            print(f"{image.tags[0]}\t{image.size_bytes / 1e6:.0f} MB\t{image.seconds:.0f}s")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Run the image tests of each spec; they build what they need (from cache) with these flags."""
    graph = load_graph(REPO_ROOT / "images")
    files = []
    for spec in args.specs:
        if not (spec in graph.layers and graph.layers[spec].migration):
            graph.plan(spec)  # unknown names fail here with exit 2
        path = REPO_ROOT / "tests" / "images" / f"test_{spec.replace('+', '_').replace('-', '_')}.py"
        if not path.is_file():
            raise LabstackError(f"no tests for {spec!r} (expected {path.relative_to(REPO_ROOT)})")
        files.append(str(path))
    build_settings(args)  # the same validation as build
    env = dict(os.environ, BASE_IMAGE=args.base_image, LABSTACK_NETWORK=args.network or "host")
    if args.ca_bundle:
        env["LABSTACK_CA_BUNDLE"] = str(args.ca_bundle)
    if args.no_host_ca:
        env["LABSTACK_NO_HOST_CA"] = "1"
    if args.without_rstudio:
        env["LABSTACK_WITHOUT_RSTUDIO"] = "1"
    if args.rstudio_deb:
        env["LABSTACK_RSTUDIO_DEB"] = str(args.rstudio_deb.resolve())
    return subprocess.call([sys.executable, "-m", "pytest", *files, *args.pytest_args], env=env, cwd=REPO_ROOT)


def cmd_run(args: argparse.Namespace) -> int:
    from labstack.builder import build_spec
    from labstack.run import serve

    built = build_spec(args.spec, build_settings(args), log)
    return serve(built[-1].tags[0], args.port, log)


def cmd_push(args: argparse.Namespace) -> int:
    from labstack.engine import push

    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    if not naming.registry:
        raise LabstackError("push needs a registry: --registry HOST[:PORT] or REGISTRY")
    graph = load_graph(REPO_ROOT / "images")
    images = [graph.plan(spec)[-1].image for spec in args.specs]
    for image in images:
        for tag in naming.tags(image):
            push(tag, log)
            print(tag)
    return 0


def cmd_bake(args: argparse.Namespace) -> int:
    import json

    from labstack.bake import bake_file
    from labstack.builder import STAGE_DIR

    graph = load_graph(REPO_ROOT / "images")
    settings = build_settings(args)
    document = bake_file(graph, args.specs, settings)
    for name in graph.layers:  # the Dockerfiles bind-mount these; bake needs them to exist
        (STAGE_DIR / name).mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
        log(f"labstack: wrote {args.output}; build with `docker buildx bake -f {args.output}`")
    else:
        sys.stdout.write(text)
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    import yaml

    from labstack.hub import profile_list

    graph = load_graph(REPO_ROOT / "images")
    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    sys.stdout.write(yaml.safe_dump(profile_list(graph, args.specs, naming), sort_keys=False))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from labstack.migrate import migrate

    naming = Naming.from_environment(args.registry, args.owner, None)
    result = migrate(container=args.container, from_image=args.from_image, target=args.tag,
                     user=args.user, owner=naming.owner, registry=naming.registry, tag=naming.tag,
                     ca_bundle=build_ca_bundle(args), network=args.network, no_cache=args.no_cache,
                     build_args=dict(args.build_arg), log=log, keep=args.keep, keep_env=args.keep_env,
                     keep_sudo=args.keep_sudo, skip_mounts=args.skip_mount, max_copy_size=args.max_copy_size)
    print(result["image"])
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from labstack.baseimage import BOOTSTRAP_TAG, bootstrap
    from labstack.engine import client

    client()
    print(bootstrap(log, args.image_tag or BOOTSTRAP_TAG))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="print the image graph: name, parent, tags")
    add_naming_flags(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("build", help="build NAME[+NAME...] and its parents, in order")
    p.add_argument("specs", nargs="+", metavar="NAME[+NAME...]")
    add_build_flags(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("test", help="build NAME if needed, boot it and probe it through the proxy")
    p.add_argument("specs", nargs="+", metavar="NAME[+NAME...]")
    add_build_flags(p)
    p.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[], help="passed on to pytest")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("run", help="build NAME if needed and serve it on 127.0.0.1:PORT with a new token, until Ctrl-C")
    p.add_argument("spec", metavar="NAME[+NAME...]")
    p.add_argument("--port", type=int, default=8888, help="loopback port to publish (default: 8888)")
    add_build_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("push", help="push the built NAME[+NAME...] images (all their tags) to --registry")
    p.add_argument("specs", nargs="+", metavar="NAME[+NAME...]")
    add_naming_flags(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("bake", help="emit a docker buildx bake file (JSON) for NAME[+NAME...]")
    p.add_argument("specs", nargs="+", metavar="NAME[+NAME...]")
    add_build_flags(p)
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.set_defaults(func=cmd_bake)

    p = sub.add_parser("profiles", help="emit Zero-to-JupyterHub profileList values (YAML) for NAME[+NAME...]")
    p.add_argument("specs", nargs="+", metavar="NAME[+NAME...]")
    add_naming_flags(p)
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("migrate", help="commit a code-server container and add a Jupyter layer on top")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--container", help="name or id of the running code-server container")
    source.add_argument("--from-image", help="start from an image already committed from such a container")
    p.add_argument("--tag", help="image reference for the result (default: {registry}/{owner}/<container>-jupyter:latest)")
    p.add_argument("--user", help="the account that owns the work (default: the one code-server runs as)")
    p.add_argument("--keep", action="append", default=[], metavar="PATH",
                   help="keep this file or folder although it looks like a secret (repeatable)")
    p.add_argument("--keep-env", action="append", default=[], metavar="NAME",
                   help="keep this environment variable although its name looks like a secret (repeatable)")
    p.add_argument("--keep-sudo", action="store_true",
                   help="keep NOPASSWD sudo rules and setuid helpers such as fixuid")
    p.add_argument("--skip-mount", action="append", default=[], metavar="PATH",
                   help="do not copy this mount into the image (the hub mounts the same data itself)")
    p.add_argument("--max-copy-size", default="4G", metavar="SIZE",
                   help="stop when a mount holding the user's state is larger than this (default: 4G)")
    p.add_argument("--registry", help="registry host[:port] (env REGISTRY)")
    p.add_argument("--owner", help="owner/namespace (env OWNER; default: labstack)")
    p.add_argument("--ca-bundle", type=Path, default=os.environ.get("LABSTACK_CA_BUNDLE") or None,
                   help="PEM bundle trusted during the build (env LABSTACK_CA_BUNDLE)")
    p.add_argument("--no-host-ca", action="store_true",
                   help="without --ca-bundle, do not pass the host's own CA bundle to the build")
    p.add_argument("--network", default=os.environ.get("LABSTACK_NETWORK") or None, help="network for build steps")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--build-arg", action="append", type=parse_build_arg, default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("bootstrap", help="make the Debian bookworm base image with debootstrap")
    p.add_argument("--image-tag", help="tag for the result (default: labstack/debian:bookworm-debootstrap)")
    p.set_defaults(func=cmd_bootstrap)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LabstackError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("build.py: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
