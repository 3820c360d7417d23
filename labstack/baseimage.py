"""The external base image: use it when present, pull it when possible, else make one with debootstrap.

Machines without a registry can still build: debootstrap fetches Debian bookworm from Debian's archive
and the result is imported as a local image. The Dockerfiles don't change; only BASE_IMAGE does.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker.errors

from . import LabstackError
from .engine import Log, _first_line, client, image_exists

DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
BOOTSTRAP_TAG = "labstack/debian:bookworm-debootstrap"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")

# Trimmed like the official slim images: no package caches, docs or man pages.
_TRIM = ["var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
         "usr/share/info/*", "var/log/*.log", "var/log/apt/*", "etc/resolv.conf", "etc/hostname"]
_APT_SOURCES = f"""\
deb {DEBIAN_MIRROR} {DEBIAN_SUITE} main
deb {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main
deb {DEBIAN_MIRROR}-security {DEBIAN_SUITE}-security main
"""
# Keep apt from caching .debs inside image layers, as the official Debian images do.
_APT_DOCKER_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
"""


def is_debian_bookworm(ref: str) -> bool:
    return ref.split("@")[0] in ("debian:bookworm", "debian:bookworm-slim", "debian:12", "debian:12-slim")


_UNPULLABLE: set[str] = set()  # tried once in this process: a run does not ask the registry again


def resolve_base_image(ref: str, log: Log, pull_timeout: int = 300) -> str:
    """The reference to build FROM: `ref` itself if present or pullable, else a bootstrapped Debian."""
    if image_exists(ref):
        return ref
    if ref in _UNPULLABLE and is_debian_bookworm(ref) and image_exists(BOOTSTRAP_TAG):
        return BOOTSTRAP_TAG
    log(f"labstack: pulling {ref} ...")
    try:
        client().images.pull(ref)
        return ref
    except docker.errors.APIError as error:
        reason = error.explanation or _first_line(error)  # the daemon's own words, without the URL
    except docker.errors.DockerException as error:
        reason = _first_line(error)
    _UNPULLABLE.add(ref)
    if not is_debian_bookworm(ref):
        raise LabstackError(
            f"base image {ref} cannot be pulled ({reason}) and debootstrap only makes Debian bookworm"
        )
    if image_exists(BOOTSTRAP_TAG):
        log(f"labstack: cannot pull {ref}; using {BOOTSTRAP_TAG}, made earlier with debootstrap")
        return BOOTSTRAP_TAG
    log(f"labstack: cannot pull {ref} ({reason}); bootstrapping Debian {DEBIAN_SUITE} with debootstrap")
    return bootstrap(log)


def bootstrap(log: Log, tag: str = BOOTSTRAP_TAG) -> str:
    """debootstrap a minimal Debian into a temporary folder and import it as `tag`."""
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if not debootstrap:
        raise LabstackError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise LabstackError("debootstrap needs root to make the base image")
    with tempfile.TemporaryDirectory(prefix="labstack-debootstrap-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [debootstrap, "--variant=minbase", "--include=ca-certificates", DEBIAN_SUITE,
               str(rootfs), DEBIAN_MIRROR]
        log(f"labstack: {' '.join(cmd)}")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise LabstackError(f"debootstrap failed: {last[0]}")
        for pattern in _TRIM:
            for path in rootfs.glob(pattern):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        (rootfs / "etc/apt/sources.list").write_text(_APT_SOURCES)
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_DOCKER_CLEAN)
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        repository, _, version = tag.rpartition(":")
        client().api.import_image_from_file(
            str(tarball), repository=repository, tag=version,
            changes=['CMD ["bash"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        )
    size = client().images.get(tag).attrs["Size"] / 1e6
    log(f"labstack: made {tag} with debootstrap from {DEBIAN_MIRROR} ({size:.0f} MB)")
    return tag
