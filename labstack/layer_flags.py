"""The flags the layers declare in their image.toml: build.py's options, and the build arguments and staged
files they turn into."""
from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from . import LabstackError
from .graph import Graph, LayerFlag


def deb_version(path: Path) -> str:
    """The Version field of a .deb, so the image's label names what was really installed."""
    if not path.is_file():
        raise LabstackError(f"no such file: {path}")
    try:
        result = subprocess.run(["dpkg-deb", "--field", str(path), "Version"],
                                capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return "local"  # not a Debian host: the build still installs it, the label says "local"
    if result.returncode != 0 or not result.stdout.strip():
        raise LabstackError(f"{path} is not a readable .deb package")
    return result.stdout.strip().replace("+", "-")


def add_layer_flags(parser: argparse.ArgumentParser, graph: Graph) -> None:
    """The flags the layers declare in their image.toml, as argparse options."""
    for layer in graph.layers.values():
        for flag in layer.flags:
            text = flag.help + (f" (env {flag.env})" if flag.env else "")
            if flag.kind == "switch":
                parser.add_argument(flag.flag, action="store_true", default=None, help=text)
            elif flag.kind == "file":
                parser.add_argument(flag.flag, type=Path, metavar="FILE", help=text)
            elif flag.kind == "value":
                parser.add_argument(flag.flag, metavar="VALUE", help=text)
            else:
                parser.add_argument(flag.flag, type=Path, action="append", default=[], metavar="FILE", help=text)


def layer_settings(graph: Graph, given: dict, env: dict[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, list[Path]]]:
    """Per layer: the build arguments and the files to stage that the layers' flags turn into.

    `given` holds what the command line said (argparse's namespace as a dict); a flag's environment
    variable is its default. When two flags set the same build argument, one given on the command line
    beats an environment default, two given on the command line contradict each other, and of two
    environment defaults a file beats a switch (LABSTACK_RSTUDIO_DEB over LABSTACK_WITHOUT_RSTUDIO).
    """
    chosen: list[tuple[LayerFlag, object, bool]] = []
    for layer in graph.layers.values():
        for flag in layer.flags:
            value, explicit = given.get(flag.dest), bool(given.get(flag.dest))
            if not explicit and flag.env and env.get(flag.env):
                raw = env[flag.env]
                value = {"switch": raw == "1", "file": Path(raw), "files": [Path(p) for p in raw.split(os.pathsep) if p],
                         "value": raw}[flag.kind]
            if value:
                chosen.append((flag, value, explicit))
    dropped: set[str] = set()
    for argument in {name for flag, _, _ in chosen for name, _ in flag.build_args}:
        setting = [item for item in chosen if argument in dict(item[0].build_args)]
        explicit = [item for item in setting if item[2]]
        if len(explicit) > 1:
            raise LabstackError(f"{explicit[0][0].flag} and {explicit[1][0].flag} contradict each other")
        winner = explicit[0] if explicit else next((i for i in setting if i[0].kind != "switch"), setting[0])
        dropped |= {item[0].flag for item in setting if item is not winner}
    layer_args: dict[str, dict[str, str]] = {}
    layer_files: dict[str, list[Path]] = {}
    for flag, value, _ in chosen:
        if flag.flag in dropped:
            continue
        files = [value] if flag.kind == "file" else list(value) if flag.kind == "files" else []
        for path in files:
            if not path.is_file():
                raise LabstackError(f"no such file: {path}")
        for name, template in flag.build_args:
            if "{deb_version}" in template:
                template = template.replace("{deb_version}", deb_version(files[0]))
            if flag.kind == "value":
                template = template.replace("{value}", value)
            layer_args.setdefault(flag.layer, {})[name] = template
        if files:
            layer_files.setdefault(flag.layer, []).extend(files)
    return layer_args, layer_files


def test_fallback(graph: Graph, error: str, settings_args: dict[str, dict[str, str]]) -> LayerFlag | None:
    """The switch the tests turn on after a build failed with `error`, when no flag chose that setting."""
    for layer in graph.layers.values():
        for flag in layer.flags:
            chosen = settings_args.get(layer.name, {})
            if flag.test_fallback and flag.test_fallback in error and not set(dict(flag.build_args)) & set(chosen):
                return flag
    return None
