"""Migrate a running code-server container into a Jupyter-enabled image, keeping its user's work.

commit (paused) -> probe the committed image (OS, user, code-server, extensions) -> build images/mig
on top of it. The source container is only paused for the commit; nothing in it changes.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from . import REPO_ROOT, LabstackError, __version__
from .builder import check_ca_bundle
from .engine import BuildRequest, Log, build, client, image_exists, remove_image
from .smoke import TrackedContainer

SUPPORTED_OS = ("debian", "ubuntu")

# Runs in the committed image as its own user: what the migration needs to know, as key=value lines.
_PROBE = r"""
. /etc/os-release 2>/dev/null
echo "os_id=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "os_name=${PRETTY_NAME:-unknown}"
echo "user=$(id -un)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
home=$(getent passwd "$(id -u)" | cut -d: -f6)
echo "home=${home:-$HOME}"
cs=$(command -v code-server || true)
echo "code_server=$cs"
if [ -n "$cs" ]; then
    echo "code_server_version=$(timeout 60 code-server --version 2>/dev/null | head -n 1)"
fi
ext="${home:-$HOME}/.local/share/code-server/extensions"
echo "extensions_dir=$ext"
echo "extensions=$(find "$ext" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | wc -l)"
"""


@dataclass
class Findings:
    os_id: str
    os_like: str
    os_name: str
    user: str
    uid: int
    gid: int
    home: str
    code_server: str
    code_server_version: str
    extensions_dir: str
    extensions: int

    def report(self) -> str:
        return "\n".join([
            f"  OS:           {self.os_name} ({self.os_id})",
            f"  user:         {self.user} (uid {self.uid}, gid {self.gid})",
            f"  home:         {self.home}",
            f"  code-server:  {self.code_server} ({self.code_server_version or 'version unknown'})",
            f"  extensions:   {self.extensions} in {self.extensions_dir}",
        ])


def probe_image(image: str, user: str | None = None) -> Findings:
    kwargs = {"user": user} if user else {}
    with TrackedContainer(image, entrypoint=["sh", "-c", _PROBE], command=[], network_mode="none",
                          **kwargs) as probe:
        container = probe.run_detached()
        try:
            result = container.wait(timeout=120)
            output = container.logs().decode(errors="replace")
        except Exception as error:  # requests' ReadTimeout and the like: the probe hung
            raise LabstackError(f"probing {image} failed: {error}") from None
    if result.get("StatusCode") != 0:
        last = output.strip().splitlines()[-1:] or ["no output"]
        raise LabstackError(f"probing {image} failed (is there a POSIX shell in it?): {last[0]}")
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return Findings(
        os_id=values.get("os_id", "unknown"), os_like=values.get("os_like", ""),
        os_name=values.get("os_name", "unknown"), user=values["user"], uid=int(values["uid"]),
        gid=int(values["gid"]), home=values["home"], code_server=values.get("code_server", ""),
        code_server_version=values.get("code_server_version", ""),
        extensions_dir=values["extensions_dir"], extensions=int(values.get("extensions", "0")),
    )


def check(findings: Findings, source: str) -> None:
    family = {findings.os_id, *findings.os_like.split()}
    if not family & set(SUPPORTED_OS):
        raise LabstackError(f"{source} runs {findings.os_name}: migration supports Debian and Ubuntu only")
    if not findings.code_server:
        raise LabstackError(f"{source} has no code-server on the PATH of user {findings.user}")
    if findings.uid == 0:
        raise LabstackError(f"{source} runs as root: pass --user with the account that owns the work")


def commit_container(name_or_id: str, tag: str, log: Log) -> tuple[str, str]:
    """Commit the container as `tag`, paused while it is committed. Returns (its name, a description)."""
    try:
        container = client().containers.get(name_or_id)
    except docker.errors.NotFound:
        raise LabstackError(f"no container named or with id {name_or_id!r}") from None
    log(f"labstack: committing container {container.name} ({container.short_id}), paused while it is committed")
    repository, version = tag.split(":")
    container.commit(repository=repository, tag=version, pause=True,
                     message=f"labstack migrate: snapshot of {container.name}")
    return container.name, f"container {container.name} ({container.short_id})"


def default_target(source_name: str, owner: str, registry: str, tag: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in source_name.lower()).strip("-_.")
    prefix = f"{registry}/" if registry else ""
    return f"{prefix}{owner}/{name or 'migrated'}-jupyter:{tag}"


def migrate(*, container: str | None, from_image: str | None, target: str | None, user: str | None,
            owner: str, registry: str, tag: str, ca_bundle: Path | None, network: str | None,
            no_cache: bool, build_args: dict[str, str], log: Log) -> dict:
    if bool(container) == bool(from_image):
        raise LabstackError("give exactly one of --container and --from-image")
    ca_bundle = check_ca_bundle(ca_bundle)
    started = time.monotonic()
    temporary = None
    try:
        if container:
            # named before the commit, so the finally below removes it even if the commit is interrupted
            temporary = f"labstack-migrate-source:{secrets.token_hex(6)}"
            source_name, described = commit_container(container, temporary, log)
            source = temporary
        else:
            if not image_exists(from_image):
                raise LabstackError(f"no image {from_image!r} here (commit it first, or pull it)")
            source, described, source_name = from_image, f"image {from_image}", from_image.split("/")[-1].split(":")[0]
        findings = probe_image(source, user)
        log(f"labstack: found in {described}:\n{findings.report()}")
        check(findings, described)
        target = target or default_target(source_name, owner, registry, tag)
        args = {
            "SOURCE_IMAGE": source, "NB_USER": findings.user, "NB_UID": str(findings.uid),
            "NB_GID": str(findings.gid), "NB_HOME": findings.home,
            "CODE_SERVER_DIR": str(Path(findings.code_server).parent),
            "CODE_EXTENSIONSDIR": findings.extensions_dir,
            "LABSTACK_VERSION": __version__, "MIGRATED_FROM": described,
        }
        args.update(build_args)
        build(BuildRequest(dockerfile=REPO_ROOT / "images" / "mig" / "Dockerfile", context=REPO_ROOT,
                           tags=[target], build_args=args, ca_bundle=ca_bundle, network=network,
                           no_cache=no_cache), log)
        source_size = client().images.get(source).attrs["Size"]
        size = client().images.get(target).attrs["Size"]
    finally:
        if temporary:
            remove_image(temporary)  # the layers stay, as the new image's parents
    seconds = time.monotonic() - started
    log(f"labstack: migrated {described} to {target} in {seconds:.0f}s; "
        f"it adds {(size - source_size) / 1e6:.0f} MB to the committed image ({source_size / 1e6:.0f} MB)")
    return {"image": target, "seconds": seconds, "added_bytes": size - source_size, "findings": findings}
