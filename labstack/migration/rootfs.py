"""Rewrite a committed image as one layer with the secrets left out and the mounted state copied in.

Deleting a file in a layer above does not remove it: it can still be read from the layer below. So
the committed container's file system is exported, filtered by `scrub.Policy` as it streams, joined by
the content of the mounts that hold the user's state (owned by the user, filtered the same way), and
imported as a single-layer image. The source container is only read: `docker export` of a container
created (not started) from the commit, `docker cp`'s archive API for the mounts.
"""
from __future__ import annotations

import io
import json
import posixpath
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import docker.errors

from .. import LabstackError
from ..engine import Log, client
from .scrub import Policy, remove_lines
from ..containers import labels_for


class ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (what the docker SDK streams)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._view:
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._view))
        buffer[:count] = self._view[:count]
        self._view = self._view[count:]
        return count


def stream(chunks: Iterable[bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), 1 << 20), mode="r|")


@dataclass
class CopiedMount:
    destination: str
    bytes: int = 0


@dataclass
class Rewrite:
    out: tarfile.TarFile
    policy: Policy
    dropped_names: set[str] = field(default_factory=set)

    def add(self, member: tarfile.TarInfo, source: tarfile.TarFile) -> int:
        """Write one member through the policy; the bytes written (0 when it was dropped)."""
        path = absolute(member.name)
        reason = self.policy.file_verdict(path)
        if reason or (member.islnk() and absolute(member.linkname) in self.dropped_names):
            self.dropped_names.add(path)
            if member.isfile() or member.issym() or member.islnk():
                self.policy.dropped.append(f"{path} ({reason or 'link to a dropped file'})")
            return 0
        if self.policy.clears_setuid(path, member.mode):
            member.mode &= 0o1777
            self.policy.dropped.append(f"{path} (setuid/setgid bit cleared)")
        data = source.extractfile(member) if member.isfile() else None
        pattern = self.policy.line_filter(path) if member.isfile() else None
        if pattern is not None and data is not None:
            text, removed = remove_lines(data.read(), pattern)
            if removed:
                self.policy.dropped.append(f"{path} ({removed} secret line(s) removed)")
            member.size = len(text)
            data = io.BytesIO(text)
        self.out.addfile(member, data)
        return member.size if member.isfile() else 0


def absolute(name: str) -> str:
    """A tar member's name as an absolute path in the image ("./home/x/" -> "/home/x")."""
    if name.startswith("./"):
        name = name[2:]
    return "/" + name.strip("/")


def _under(name: str, folders: list[str]) -> bool:
    path = absolute(name)
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def write_rootfs(image: str, container, mounts: list[dict], policy: Policy, owner: tuple[int, int],
                 max_copy_bytes: int, target, log: Log) -> list[CopiedMount]:
    """Write the filtered file system of `image` plus the mounts' content as a tar to `target`."""
    destinations = [mount["Destination"] for mount in mounts]
    created = client().containers.create(image, entrypoint=["/bin/true"], command=[], network_mode="none",
                                         labels=labels_for("migrate"))
    copied = []
    with tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as out:
        rewrite = Rewrite(out, policy)
        try:
            with stream(client().api.export(created.id)) as source:
                for member in source:
                    # what the image has at a mount point was hidden by the mount: the mount's content
                    # (its folder included: an archive may not name a path twice) replaces it
                    if not _under(member.name, destinations):
                        rewrite.add(member, source)
        finally:
            created.remove(force=True, v=True)  # with the anonymous volumes an image with VOLUME gets
        for mount in mounts:
            copied.append(_copy_mount(container, mount["Destination"], rewrite, owner, max_copy_bytes, log))
    return copied


def _copy_mount(container, destination: str, rewrite: Rewrite, owner: tuple[int, int], max_copy_bytes: int,
                log: Log) -> CopiedMount:
    log(f"labstack: copying the mount {destination} into the image")
    try:
        chunks, _ = container.get_archive(destination)
    except docker.errors.APIError as error:
        raise LabstackError(f"cannot read the mount {destination} of the container: {error.explanation}") from None
    copied = CopiedMount(destination)
    base = posixpath.basename(destination.rstrip("/"))
    with stream(chunks) as source:
        for member in source:
            member.name = _rebase(member.name, base, destination)
            if member.islnk():
                member.linkname = _rebase(member.linkname, base, destination)
            member.uid, member.gid = owner
            member.uname = member.gname = ""
            copied.bytes += rewrite.add(member, source)
            if copied.bytes > max_copy_bytes:
                raise LabstackError(
                    f"the mount {destination} holds more than {max_copy_bytes / 1e9:.1f} GB: pass a larger "
                    f"--max-copy-size, or --skip-mount {destination} when the hub mounts the same data itself")
    return copied


def _rebase(name: str, base: str, destination: str) -> str:
    """docker cp names entries after the folder's own name ("config/x"); put them at the destination."""
    name = absolute(name)[1:]
    relative = name[len(base):] if name == base or name.startswith(base + "/") else "/" + name
    return destination.strip("/") + relative


def import_image(tar_path: str, tag: str, env: list[str], user: str, workdir: str) -> None:
    repository, _, version = tag.rpartition(":")
    changes = [f"ENV {_dockerfile_env(entry)}" for entry in env] + [f"USER {user}", f"WORKDIR {workdir}"]
    try:
        result = client().api.import_image_from_file(tar_path, repository=repository, tag=version, changes=changes)
    except docker.errors.APIError as error:
        raise LabstackError(f"importing the migrated file system failed: {error.explanation}") from None
    for line in str(result).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            raise LabstackError(f"importing the migrated file system failed: {message['error']}")


def _dockerfile_env(entry: str) -> str:
    """KEY=VALUE as a Dockerfile ENV argument: quoted, with $ and quotes escaped (no expansion)."""
    name, _, value = entry.partition("=")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'{name}="{escaped}"'


def scrubbed_image(image: str, container, mounts: list[dict], policy: Policy, owner: tuple[int, int],
                   env: list[str], user: str, workdir: str, tag: str, max_copy_bytes: int,
                   log: Log) -> list[CopiedMount]:
    """Import `image` (plus the mounts' content) as `tag`: one layer, filtered by the policy."""
    with tempfile.NamedTemporaryFile(prefix="labstack-rootfs-", suffix=".tar", dir="/var/tmp") as target:
        copied = write_rootfs(image, container, mounts, policy, owner, max_copy_bytes, target, log)
        target.flush()
        import_image(target.name, tag, policy.environment(env), user, workdir)
    return copied
