"""Image tags: {registry}/{owner}/{name}:{tag}, plus a version tag for every image built."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from . import REPO_ROOT, LabstackError, __version__

# Docker's grammar for one tag, and (loosely) for registry host[:port] and path components.
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def source_version() -> str:
    """labstack's version plus the commit, so a version tag says which Dockerfiles built the image."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=7", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}-{sha}"


@dataclass(frozen=True)
class Naming:
    registry: str = ""
    owner: str = "labstack"
    tag: str = "latest"
    version_tag: str = ""

    @classmethod
    def from_environment(cls, registry=None, owner=None, tag=None) -> "Naming":
        naming = cls(
            registry=registry if registry is not None else os.environ.get("REGISTRY", ""),
            owner=owner if owner is not None else os.environ.get("OWNER", "labstack"),
            tag=tag if tag is not None else os.environ.get("TAG", "latest"),
            version_tag=source_version(),
        )
        naming.validate()
        return naming

    def validate(self) -> None:
        if self.registry and not _REGISTRY.match(self.registry):
            raise LabstackError(f"bad registry {self.registry!r}: expected host[:port]")
        for part in self.owner.split("/"):
            if not _COMPONENT.match(part):
                raise LabstackError(f"bad owner {self.owner!r}: lowercase letters, digits, . _ - only")
        for tag in (self.tag, self.version_tag):
            if tag and not _TAG.match(tag):
                raise LabstackError(f"bad tag {tag!r}")

    def repository(self, image: str) -> str:
        prefix = f"{self.registry}/" if self.registry else ""
        return f"{prefix}{self.owner}/{image}"

    def tags(self, image: str) -> list[str]:
        """The main tag first: children are built FROM it."""
        tags = [f"{self.repository(image)}:{self.tag}"]
        if self.version_tag and self.version_tag != self.tag:
            tags.append(f"{self.repository(image)}:{self.version_tag}")
        return tags
