"""Versions measured from a built image, not written by hand: each layer's image.toml names a command
per component ([[versions]]), run in the image; the answers become labels (io.labstack.<name>.version)
and, as docker-stacks does, tags (r-4.5.0, python-3.13.5) an admin can pin a profile to (tags.py)."""
from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

from . import LabstackError
from .containers import TrackedContainer
from .engine import BuildRequest, Log, build
from .graph import Version
from .staging import LABEL_CONTEXT

_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,100}$")
_MEASURE_TIMEOUT = 120  # seconds for all of one image's commands


def label_name(name: str) -> str:
    return f"io.labstack.{name}.version"


def measure_script(versions: list[Version]) -> str:
    """One shell script printing `name=version` per component; a command that fails prints nothing."""
    return "\n".join(f"printf '%s=%s\\n' {shlex.quote(v.name)} \"$( ( {v.command} ) 2>/dev/null | head -n 1)\""
                     for v in versions)


def parse_measured(output: str, versions: list[Version], image: str) -> dict[str, str]:
    found = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    measured = {}
    for version in versions:
        value = found.get(version.name, "").strip()
        if not _VERSION.match(value):
            raise LabstackError(f"cannot measure the {version.name} version of {image}: "
                                f"`{version.command}` printed {value!r}")
        measured[version.name] = value
    return measured


def measure(image: str, versions: list[Version]) -> dict[str, str]:
    """Run every command in one container of `image`, without network, and read what they print."""
    if not versions:
        return {}
    with TrackedContainer(image, purpose="measure", network_mode="none", entrypoint=["/bin/sh", "-c"],
                          command=[f"sleep {_MEASURE_TIMEOUT}"]) as container:
        container.run_detached()
        output = container.exec(["/bin/sh", "-c", measure_script(versions)], timeout=_MEASURE_TIMEOUT)
    return parse_measured(output, versions, image)


# The ID of the build's own output, on the labelled image: a later build that comes out the same (from
# the cache) finds the labelled one by it (tags.label_measured_versions).
LABELLED_FROM = "io.labstack.labelled-from"


def apply_labels(image: str, measured: dict[str, str], tags: list[str], log: Log,
                 extra: dict[str, str] | None = None) -> None:
    """Label `image` with what was measured (and `extra`) and give it `tags`: a build that adds no layer."""
    LABEL_CONTEXT.mkdir(parents=True, exist_ok=True)
    # one file per build: two builds labelling at once (in two threads, or a bake beside) read their own
    handle, name = tempfile.mkstemp(dir=LABEL_CONTEXT.parent, prefix="labels-", suffix=".Dockerfile")
    os.close(handle)
    dockerfile = Path(name)
    dockerfile.write_text(f"FROM {image}\n")
    try:
        build(BuildRequest(dockerfile=dockerfile, context=LABEL_CONTEXT, tags=tags,
                           labels={**{label_name(name): value for name, value in measured.items()}, **(extra or {})}), log)
    finally:
        dockerfile.unlink(missing_ok=True)


def versions_of(chain: list) -> list[Version]:
    """The components of an image built from these layers, the later layer's command winning."""
    by_name: dict[str, Version] = {}
    for layer in chain:
        for version in layer.versions:
            by_name[version.name] = version
    return list(by_name.values())
