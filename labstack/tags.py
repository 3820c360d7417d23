"""Every tag an image gets, decided here: {registry}/{owner}/{name}:{tag}, the source's version tag
(0.1.0-<commit>), and the tags of the versions measured in it (r-4.5.0, python-3.13.5), which
`build` gives after each step, `label` gives to images a bake built and `push` sends."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

import docker.errors

from . import REPO_ROOT, LabstackError, __version__
from .engine import Log, client, image_exists, image_labels, remove_image
from .graph import Graph, Version
from .versions import LABELLED_FROM, apply_labels, label_name, measure, versions_of

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


def version_tags(repository: str, measured: dict[str, str], versions: list[Version]) -> list[str]:
    """`repository:<tag>-<version>` for each component that asks for a tag; Docker tags hold no + or ~."""
    tags = []
    for version in versions:
        if version.tag and measured.get(version.name) not in (None, "none"):
            tags.append(f"{repository}:{version.tag}-{re.sub(r'[+~]', '-', measured[version.name])}")
    return tags


def measured_tags(image: str, repository: str, chain: list) -> list[str]:
    """The version tags (r-4.5.0, ...) build gave `image`, read back from its labels; none if it is absent."""
    if not image_exists(image):
        return []  # push reports the missing image itself
    labels = image_labels(image)
    versions = versions_of(chain)
    measured = {v.name: labels[label_name(v.name)] for v in versions if label_name(v.name) in labels}
    return [tag for tag in version_tags(repository, measured, versions) if image_exists(tag)]


def push_tags(naming: Naming, graph: Graph, spec: str) -> list[str]:
    """What `push` sends for spec's image: its own tags and the measured ones `build` gave it."""
    steps = graph.plan(spec)
    image = steps[-1].image
    main = naming.tags(image)
    return main + measured_tags(main[0], naming.repository(image), [step.layer for step in steps])


def label_built(naming: Naming, graph: Graph, spec: str, log: Log) -> list[list[str]]:
    """What `build` does after each step, for images another builder made (docker buildx bake): each
    step's tags, measured and labelled."""
    steps = graph.plan(spec)
    done = []
    for number, step in enumerate(steps, 1):
        tags = naming.tags(step.image)
        if not image_exists(tags[0]):
            raise LabstackError(f"no image {tags[0]} to label: build or bake it first")
        done.append(label_measured_versions(tags, [s.layer for s in steps[:number]], naming.repository(step.image), log))
    return done


def _labelled_from(unlabelled: str) -> list:
    """The images labelled from this unlabelled one that still exist. One list call, then each looked
    at: an image another build or test removes in between is left out (the SDK's images.list() failed
    on it with 404 in a warm two-lane run)."""
    found = []
    for summary in client().api.images(filters={"label": f"{LABELLED_FROM}={unlabelled}"}):
        try:
            found.append(client().images.get(summary["Id"]))
        except docker.errors.NotFound:
            pass
    return found


def _tag(image, tags: list[str]) -> None:
    for tag in tags:
        image.tag(*tag.rsplit(":", 1))


def untag(ref: str) -> None:
    try:
        remove_image(ref)  # and with it an unlabelled image nothing else names (it shares every layer)
    except docker.errors.APIError:  # still used (a container of it): only untagged clutter stays
        pass


def label_measured_versions(tags: list[str], chain: list, repository: str, log: Log,
                            add_tags: bool = True, built_ref: str | None = None) -> list[str]:
    """Measure the versions the layers declare in the image just built (`built_ref`, else tags[0]),
    label it with them and give the labelled image `tags` and (with `add_tags`) the version tags; the
    unlabelled image it was is removed (it shares every layer).

    A build that came from the cache is the image labelled before: that labelled image is tagged again,
    not labelled anew. A new label build would give it a new ID (a new creation time), and every image
    built FROM it, its builder stages included, would miss the build cache."""
    versions = versions_of(chain)
    built = client().images.get(built_ref or tags[0])
    if not versions:
        _tag(built, tags)
        return tags

    def with_measured(measured: dict[str, str]) -> list[str]:
        if not add_tags:
            return tags
        return tags + [tag for tag in version_tags(repository, measured, versions) if tag not in tags]

    unlabelled = built.id
    # the same layers too: a label names what was labelled, the layers prove it
    for image in _labelled_from(unlabelled):
        if image.attrs["RootFS"]["Layers"] != built.attrs["RootFS"]["Layers"]:
            continue
        labels = image.labels
        measured = {v.name: labels[label_name(v.name)] for v in versions if label_name(v.name) in labels}
        measured_tags = with_measured(measured)
        try:
            _tag(image, measured_tags)
        except docker.errors.NotFound:  # removed since it was listed: the next, or label anew
            continue
        tags = measured_tags
        log(f"labstack: {tags[0]} is the image measured before: " + ", ".join(f"{n} {v}" for n, v in measured.items()))
        return tags
    # Measured and labelled by a tag of its own (build_spec's, else one made here): another build may
    # move tags[0] meanwhile (two builds of the same name at once), and the label build must start FROM
    # this very image.
    own = built_ref or f"{repository}:labelling-{unlabelled.split(':')[-1][:12]}"
    if not built_ref:
        _tag(built, [own])
    try:
        measured = measure(own, versions)
        tags = with_measured(measured)
        apply_labels(own, measured, tags, log, extra={LABELLED_FROM: unlabelled})
    finally:
        if not built_ref:  # build_spec removes its own
            untag(own)
    log(f"labstack: measured in {tags[0]}: " + ", ".join(f"{name} {value}" for name, value in measured.items()))
    return tags
