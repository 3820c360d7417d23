"""The external base image: use it when present, pull it when possible, else make one with debootstrap.

Machines without a registry can still build: debootstrap fetches the Debian release asked for (trixie,
the default, or bookworm) from Debian's archive and the result is imported as a local image. The
Dockerfiles don't change; only BASE_IMAGE does.
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

DEFAULT_BASE_IMAGE = "debian:trixie-slim"
# The releases debootstrap makes when no registry answers: suite name -> Debian version number.
DEBIAN_SUITES = {"trixie": "13", "bookworm": "12"}
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")

# Trimmed like the official slim images: no package caches, docs or man pages.
_TRIM = ["var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
         "usr/share/info/*", "var/log/*.log", "var/log/apt/*", "etc/resolv.conf", "etc/hostname"]


def apt_sources(suite: str) -> str:
    return (f"deb {DEBIAN_MIRROR} {suite} main\n"
            f"deb {DEBIAN_MIRROR} {suite}-updates main\n"
            f"deb {DEBIAN_MIRROR}-security {suite}-security main\n")


# Keep apt from caching .debs inside image layers, as the official Debian images do.
_APT_DOCKER_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
"""


def debian_suite(ref: str) -> str | None:
    """The suite debootstrap can make in place of `ref` (debian:trixie-slim, debian:12, ...), or None."""
    name = ref.split("@")[0]
    for suite, number in DEBIAN_SUITES.items():
        if name in (f"debian:{suite}", f"debian:{suite}-slim", f"debian:{number}", f"debian:{number}-slim"):
            return suite
    return None


DEFAULT_SUITE = debian_suite(DEFAULT_BASE_IMAGE)  # the default base's, written once above


def bootstrap_tag(suite: str = DEFAULT_SUITE) -> str:
    return f"labstack/debian:{suite}-debootstrap"


BOOTSTRAP_TAG = bootstrap_tag()


_UNPULLABLE: set[str] = set()  # tried once in this process: a run does not ask the registry again


def resolve_base_image(ref: str, log: Log, pull_timeout: int = 300) -> str:
    """The reference to build FROM: `ref` itself if present or pullable, else a bootstrapped Debian."""
    if image_exists(ref):
        return ref
    suite = debian_suite(ref)
    if ref in _UNPULLABLE and suite and image_exists(bootstrap_tag(suite)):
        return bootstrap_tag(suite)
    log(f"labstack: pulling {ref} ...")
    try:
        client().images.pull(ref)
        return ref
    except docker.errors.APIError as error:
        reason = error.explanation or _first_line(error)  # the daemon's own words, without the URL
    except docker.errors.DockerException as error:
        reason = _first_line(error)
    _UNPULLABLE.add(ref)
    if not suite:
        raise LabstackError(
            f"base image {ref} cannot be pulled ({reason}) and debootstrap only makes Debian "
            + " or ".join(f"{name} ({number})" for name, number in DEBIAN_SUITES.items())
        )
    tag = bootstrap_tag(suite)
    if image_exists(tag):
        log(f"labstack: cannot pull {ref}; using {tag}, made earlier with debootstrap")
        return tag
    log(f"labstack: cannot pull {ref} ({reason}); bootstrapping Debian {suite} with debootstrap")
    return bootstrap(log, suite=suite)


def bootstrap(log: Log, tag: str | None = None, suite: str = DEFAULT_SUITE) -> str:
    """debootstrap a minimal Debian `suite` into a temporary folder and import it as `tag`."""
    if suite not in DEBIAN_SUITES:
        raise LabstackError(f"debootstrap makes Debian {' or '.join(DEBIAN_SUITES)}, not {suite!r}")
    tag = tag or bootstrap_tag(suite)
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if not debootstrap:
        raise LabstackError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise LabstackError("debootstrap needs root to make the base image")
    with tempfile.TemporaryDirectory(prefix="labstack-debootstrap-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [debootstrap, "--variant=minbase", "--include=ca-certificates", suite,
               str(rootfs), DEBIAN_MIRROR]
        log(f"labstack: {' '.join(cmd)}")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise LabstackError(f"debootstrap failed: {last[0]}")
        for pattern in _TRIM:
            for path in rootfs.glob(pattern):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        (rootfs / "etc/apt/sources.list").write_text(apt_sources(suite))
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
