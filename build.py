#!/usr/bin/env python3
"""labstack command line: build, boot and probe layered Jupyter images. See README.md."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labstack import LabstackError
from labstack.baseimage import DEBIAN_SUITES, DEFAULT_SUITE
from labstack.graph import LAYERS_VARIABLE, images_dir, layer_folders, load_graph
from labstack.tags import Naming
from labstack.settings import add_build_flags, add_ca_flags, add_migrate_flags, add_naming_flags, build_settings


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_list(args: argparse.Namespace, graph) -> int:
    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    print(f"{'NAME':<14} {'PARENT':<22} TAGS")
    for layer in graph.layers.values():
        parent = "(committed container)" if layer.migration else (layer.parent or "(base image)")
        tags = "built by `build.py migrate`" if layer.migration else ", ".join(naming.tags(layer.name))
        print(f"{layer.name:<14} {parent:<22} {tags}")
    return 0


def cmd_build(args: argparse.Namespace, graph) -> int:
    from labstack.builder import build_spec

    settings = build_settings(args, graph)
    for spec in args.specs:
        built = build_spec(spec, settings, log, graph)
        for image in built:
            print(f"{image.tags[0]}\t{image.size_bytes / 1e6:.0f} MB\t{image.seconds:.0f}s")
    return 0


def cmd_test(args: argparse.Namespace, graph) -> int:
    """Build each spec with these settings, then run the tests of every layer in it against those images."""
    from labstack.testing.plan import run_tests

    from labstack.testing.lanes import default_lanes

    if args.lanes is not None and args.lanes < 1:
        raise LabstackError(f"--lanes {args.lanes}: a whole number of 1 or more")
    lanes = args.lanes if args.lanes is not None else default_lanes()
    return run_tests(args.specs, build_settings(args, graph), graph, args.pytest_args, log, lanes)


def cmd_run(args: argparse.Namespace, graph) -> int:
    from labstack.builder import build_spec
    from labstack.run import check_local_engine, serve, stopped_like_ctrl_c

    check_local_engine()  # before building anything
    with stopped_like_ctrl_c():
        built = build_spec(args.spec, build_settings(args, graph), log, graph)
        return serve(built[-1].tags[0], args.port, log)


def cmd_render(args: argparse.Namespace, graph) -> int:
    """Print the Dockerfile labstack renders for a layer declared in its image.toml."""
    from labstack.declared import render_dockerfile
    from labstack.staging import declared_context_path

    layer = graph.layer(args.layer)
    if not layer.declaration:
        raise LabstackError(f"{args.layer} has a Dockerfile of its own: {layer.folder / 'Dockerfile'}")
    print(render_dockerfile(layer.name, layer.parent, layer.declaration, declared_context_path(layer.name)), end="")
    return 0


def cmd_push(args: argparse.Namespace, graph) -> int:
    from labstack.engine import push
    from labstack.tags import push_tags

    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    if not naming.registry:
        raise LabstackError("push needs a registry: --registry HOST[:PORT] or REGISTRY")
    for spec in args.specs:
        for tag in push_tags(naming, graph, spec):
            push(tag, log)
            print(tag)
    return 0


def cmd_bake(args: argparse.Namespace, graph) -> int:
    import json

    from labstack.bake import bake_file

    settings = build_settings(args, graph)
    if settings.network:
        log(f"labstack: the bake file sets no network (buildx 0.13 has no such key): RUN steps use the builder's; "
            f"for {settings.network} networking, create the builder with --driver-opt network={settings.network}")
    document = bake_file(graph, args.specs, settings)
    text = json.dumps(document, indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
        log(f"labstack: wrote {args.output}; build with `docker buildx bake -f {args.output}`")
    else:
        sys.stdout.write(text)
    return 0


def cmd_label(args: argparse.Namespace, graph) -> int:
    """What `build` does after each step, for images another builder made (docker buildx bake)."""
    from labstack.tags import label_built

    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    for spec in args.specs:
        for tags in label_built(naming, graph, spec, log):
            print("\t".join(tags))
    return 0


def cmd_profiles(args: argparse.Namespace, graph) -> int:
    from labstack.hub import owner_only, profile_list, restricted, to_yaml

    if args.owner_only and args.restricted:
        raise LabstackError("--restricted with --owner-only: a migrated image keeps its user's work in the "
                            "image's own home, which a read-only root filesystem would make read-only")
    if args.owner_only:
        user, image = args.owner_only
        values = owner_only(user, image)
    elif not args.specs:
        raise LabstackError("profiles needs NAME[+NAME...] (or --owner-only USER IMAGE)")
    else:
        values = profile_list(graph, args.specs, Naming.from_environment(args.registry, args.owner, args.tag))
    sys.stdout.write(to_yaml(restricted(values) if args.restricted else values))
    return 0


def cmd_dockerspawner(args: argparse.Namespace, graph) -> int:
    from labstack.user_networks import spawner_config

    sys.stdout.write(spawner_config(args.hub_container or "", args.subnet_pool or ""))
    return 0


def cmd_migrate(args: argparse.Namespace, graph) -> int:
    from labstack.migration.migrate import migrate
    from labstack.settings import migrate_settings

    result = migrate(container=args.container, from_image=args.from_image, target=args.target, user=args.user,
                     log=log, keep=args.keep, keep_env=args.keep_env, keep_sudo=args.keep_sudo,
                     skip_mounts=args.skip_mount, max_copy_size=args.max_copy_size, hub_user=args.hub_user,
                     **migrate_settings(args))
    print(result["image"])
    return 0


def cmd_binder(args: argparse.Namespace, graph) -> int:
    """Write binder/Dockerfile into a repository, so repo2docker and BinderHub build it on a labstack image."""
    from labstack.binder import BinderRepo, render_dockerfile, write_dockerfile
    from labstack.engine import repo_digest

    naming = Naming.from_environment(args.registry, args.owner, args.tag)
    ref = naming.tags(graph.plan(args.spec)[-1].image)[0]  # an unknown name stops here
    repo = BinderRepo.find(args.repo)
    repo.dockerfile(args.force)  # refused before the engine is asked anything
    digest = repo_digest(ref)
    if digest is None:
        log(f"labstack: {ref} has no registry digest here (not pushed or pulled): FROM it by tag; "
            "after `build.py push`, write this again for a digest")
    text = render_dockerfile(digest or ref, ref, repo)
    print(write_dockerfile(repo, text, args.force))
    return 0


def cmd_bootstrap(args: argparse.Namespace, graph) -> int:
    from labstack.baseimage import bootstrap
    from labstack.engine import client

    client()
    print(bootstrap(log, args.image_tag, args.suite))
    return 0


def cmd_lock(args: argparse.Namespace, graph) -> int:
    from labstack.engine import client
    from labstack.lock import refresh
    from labstack.settings import ca_bundle

    client()
    bundle, _ = ca_bundle(args.ca_bundle, args.no_host_ca, dict(os.environ))
    print(refresh(bundle, log))
    return 0


def make_parser(graph) -> argparse.ArgumentParser:
    """Every command and flag; the layers' own flags come from their image.toml."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__)
    parser.add_argument("--layers", metavar="DIR", action="append",
                        help=f"also read the layers in this folder, beside labstack's (repeatable; default: "
                             f"${LAYERS_VARIABLE}, {os.pathsep}-separated)")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, func, help_text, specs=None, flags=add_naming_flags):
        """A subcommand: its NAME arguments ("+" for one or more, "1" for one) and its flags."""
        p = sub.add_parser(name, help=help_text)
        if specs:
            p.add_argument("specs" if specs == "+" else "spec", nargs="+" if specs == "+" else None,
                           metavar="NAME[+NAME...]")
        if flags:
            flags(p)
        p.set_defaults(func=func)
        return p

    def build_flags(p):
        add_build_flags(p, graph)

    command("list", cmd_list, "print the image graph: name, parent, tags")
    command("build", cmd_build, "build NAME[+NAME...] and its parents, in order", "+", build_flags)
    p = command("test", cmd_test, "build NAME (or all) with these flags, then run the tests of each of its layers on it",
                "+", build_flags)
    p.add_argument("--lanes", type=int, default=None, metavar="N",
                   help="run the test modules in N pytest processes side by side (default: 2 where there are "
                        "two cores or more, else 1)")
    p.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[], help="passed on to pytest")
    p = command("run", cmd_run, "build NAME if needed and serve it on 127.0.0.1:PORT with a new token, until Ctrl-C",
                "1", build_flags)
    p.add_argument("--port", type=int, default=8888, help="loopback port to publish (default: 8888)")
    p = command("render", cmd_render, "print the Dockerfile labstack renders for a layer declared in its image.toml",
                flags=None)
    p.add_argument("layer", metavar="NAME")
    command("push", cmd_push, "push the built NAME[+NAME...] images (all their tags) to --registry", "+")
    command("label", cmd_label, "measure the versions in NAME[+NAME...] built by a bake file, and label and tag "
            "them as `build` does", "+")
    p = command("bake", cmd_bake, "emit a docker buildx bake file (JSON) for NAME[+NAME...]", "+", build_flags)
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p = command("profiles", cmd_profiles, "emit Zero-to-JupyterHub profileList values (YAML) for NAME[+NAME...]")
    p.add_argument("specs", nargs="*", metavar="NAME[+NAME...]")
    p.add_argument("--owner-only", nargs=2, metavar=("USER", "IMAGE"),
                   help="instead: hub.extraConfig that offers a migrated IMAGE to USER only")
    p.add_argument("--restricted", action="store_true",
                   help="also the pod settings of Kubernetes' Restricted Pod Security: non-root, no privilege "
                        "escalation, no capabilities, default seccomp, a read-only root with /tmp an emptyDir")

    p = command("dockerspawner", cmd_dockerspawner, "emit the jupyterhub_config.py part that runs each user's "
                "DockerSpawner servers on a docker network of the user's own", flags=None)
    p.add_argument("--hub-container", metavar="NAME",
                   help="the hub's own container, where the hub runs in one (a compose service's container name)")
    p.add_argument("--subnet-pool", metavar="CIDR",
                   help="cut each user's network (/28) from this pool (default: Docker's own address pools, "
                        "about 30 networks)")

    p = command("binder", cmd_binder, "write binder/Dockerfile into a repository: repo2docker and BinderHub build it on NAME",
                "1")
    p.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: this folder)")
    p.add_argument("--force", action="store_true", help="replace a Dockerfile already there")

    p = sub.add_parser("migrate", help="commit a code-server or R container and add a Jupyter layer on top")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--container", help="name or id of the running code-server or R container")
    source.add_argument("--from-image", help="start from an image already committed from such a container")
    p.add_argument("--image", "--tag", dest="target", metavar="REF",
                   help="the resulting image's whole reference (default: {registry}/{owner}/<container>-jupyter:latest)")
    p.add_argument("--user", help="the account that owns the work (default: the one the app runs as, or "
                   "rocker's DEFAULT_USER)")
    p.add_argument("--hub-user", help="the hub user the printed profile offers the image to (default: the name of the container's user)")
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
    add_migrate_flags(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("bootstrap", help="make a Debian base image with debootstrap (trixie, or bookworm)")
    p.add_argument("--suite", choices=list(DEBIAN_SUITES), default=DEFAULT_SUITE,
                   help=f"the Debian release (default: {DEFAULT_SUITE})")
    p.add_argument("--image-tag", help="tag for the result (default: labstack/debian:SUITE-debootstrap)")
    p.set_defaults(func=cmd_bootstrap)
    p = sub.add_parser("lock", help="resolve the Jupyter environment afresh and write images/base/install/jupyter-lock.txt")
    add_ca_flags(p)
    p.set_defaults(func=cmd_lock)

    return parser


def main(argv: list[str] | None = None) -> int:
    # --layers DIR (anywhere on the line) adds an admin's folder of layers before the commands and the
    # layers' own flags are known
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--layers", action="append", default=[])
    given, argv = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        folders = layer_folders(given.layers)
        os.environ[LAYERS_VARIABLE] = os.pathsep.join(map(str, folders))  # for the tests `build.py test` runs
        graph = load_graph(images_dir(), *folders)
    except LabstackError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 2
    args = make_parser(graph).parse_args(argv)
    try:
        return args.func(args, graph)
    except LabstackError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("build.py: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
