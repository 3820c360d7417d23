"""Migrate a running app container (code-server, R) into a Jupyter-enabled image, keeping its user's work.

read the app's processes (workstate; readers/ knows each kind of app) -> commit (paused) -> the mounts
that hold the user's state -> rewrite the commit as one layer, secrets dropped and mounted state copied
in (rootfs, scrub) -> probe it (OS, user, the app) -> build the app's stage of images/mig on top. The
source container is only paused for the commit and read.
"""
from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import docker.errors

from .. import REPO_ROOT, LabstackError, __version__
from ..settings import DEFAULT_CRAN_URL, check_ca_bundle
from ..engine import BuildRequest, Log, build, client, image_exists, remove_image
from ..hub import owner_only, to_yaml
from ..pins import pinned
from .readers import Findings, Reader, detect, detect_installed, readers
from .rootfs import scrubbed_image
from .scrub import Policy
from ..containers import TrackedContainer
from .workstate import fill_details, plan_mounts, read_processes

SUPPORTED_OS = ("debian", "ubuntu")
NOTES = "/usr/local/lib/labstack/notes"  # lines images/mig's build leaves for the user (why no R kernel)

# Runs in an image as the user that owns the work: who they are and the OS, as key=value lines; each
# reader adds its own lines (readers/).
_PROBE = r"""
. /etc/os-release 2>/dev/null
echo "os_id=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "os_name=${PRETTY_NAME:-unknown}"
echo "user=$(id -un 2>/dev/null || id -u)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
home=$(getent passwd "$(id -u)" | cut -d: -f6)
echo "home=${home:-$HOME}"
"""


def probe_image(image: str, user: str | None = None, environment: dict[str, str] | None = None) -> Findings:
    kwargs = {"user": user} if user else {}
    script = _PROBE + "".join(reader.probe for reader in readers())
    with TrackedContainer(image, purpose="migrate", entrypoint=["sh", "-c", script], command=[], network_mode="none",
                          environment=environment or {}, **kwargs) as probe:
        container = probe.run_detached()
        try:
            result = container.wait(timeout=120)
            output = container.logs().decode(errors="replace")
        except Exception as error:  # requests' ReadTimeout and the like: the probe hung
            raise LabstackError(f"probing {image} failed: {error}") from None
    if result.get("StatusCode") != 0:
        last = output.strip().splitlines()[-1:] or ["no output"]
        raise LabstackError(f"probing {image} failed (is there a POSIX shell in it?): {last[0]}")
    values: dict[str, list[str]] = {}
    for line in output.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    one = {key: found[0] for key, found in values.items()}
    return Findings(os_id=one.get("os_id", "unknown"), os_like=one.get("os_like", ""),
                    os_name=one.get("os_name", "unknown"), user=one["user"], uid=int(one["uid"]),
                    gid=int(one["gid"]), home=one["home"], values=values)


def report(findings: Findings, reader: Reader, state) -> str:
    return "\n".join([
        f"  OS:           {findings.os_name} ({findings.os_id})",
        f"  user:         {findings.user} (uid {findings.uid}, gid {findings.gid})",
        f"  home:         {findings.home}",
        *reader.report(findings, state),
    ])


def check_os(findings: Findings, source: str) -> None:
    family = {findings.os_id, *findings.os_like.split()}
    if not family & set(SUPPORTED_OS):
        raise LabstackError(f"{source} runs {findings.os_name}: migration supports Debian and Ubuntu only")


def check_user(findings: Findings, source: str) -> None:
    if findings.uid == 0:
        raise LabstackError(f"{source} runs as root: pass --user with the account that owns the work")


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", text.strip(), re.IGNORECASE)
    if not match:
        raise LabstackError(f"--max-copy-size {text!r}: expected a size such as 500M or 4G")
    return int(float(match.group(1)) * 1000 ** " KMGT".index(match.group(2).upper() or " "))


def find_container(name_or_id: str):
    try:
        return client().containers.get(name_or_id)
    except docker.errors.NotFound:
        raise LabstackError(f"no container named or with id {name_or_id!r}") from None


def commit_container(container, tag: str, log: Log) -> tuple[str, str]:
    """Commit the container as `tag`, paused while it is committed. Returns (its name, a description)."""
    log(f"labstack: committing container {container.name} ({container.short_id}), paused while it is committed")
    repository, version = tag.split(":")
    container.commit(repository=repository, tag=version, pause=True,
                     message=f"labstack migrate: snapshot of {container.name}")
    return container.name, f"container {container.name} ({container.short_id})"


def default_target(source_name: str, owner: str, registry: str, tag: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in source_name.lower()).strip("-_.")
    prefix = f"{registry}/" if registry else ""
    return f"{prefix}{owner}/{name or 'migrated'}-jupyter:{tag}"


def profile(target: str, findings: Findings, reader: Reader, state, hub_user: str) -> str:
    """hub.extraConfig values that offer the migrated image to its owner only: the image's own user,
    group and home, landing on the app (RStudio, VS Code) or JupyterLab."""
    title, default_url = reader.landing(findings, state)
    override = {"cmd": ["start-jupyter"], "uid": findings.uid, "gid": findings.gid,
                "environment": {"HOME": findings.home}}
    return to_yaml(owner_only(hub_user, target, default_url, f"{findings.user}'s {title} (migrated)", override))


def migrate(*, container: str | None, from_image: str | None, target: str | None, user: str | None,
            owner: str, registry: str, tag: str, ca_bundle: Path | None, network: str | None,
            no_cache: bool, build_args: dict[str, str], log: Log, keep: list[str] = (),
            keep_env: list[str] = (), keep_sudo: bool = False, skip_mounts: list[str] = (),
            max_copy_size: str = "4G", hub_user: str | None = None, cran_url: str = DEFAULT_CRAN_URL) -> dict:
    if bool(container) == bool(from_image):
        raise LabstackError("give exactly one of --container and --from-image")
    ca_bundle = check_ca_bundle(ca_bundle)
    max_copy_bytes = parse_size(max_copy_size)
    started = time.monotonic()
    temporaries: list[str] = []
    try:
        if container:
            source_container = find_container(container)
            if source_container.status != "running":
                raise LabstackError(f"container {source_container.name} is {source_container.status}, not running: "
                                    f"start it (its mounts are read while it runs), or pass --from-image with a commit")
            processes = read_processes(source_container)
            # named before the commit, so the finally below removes it even if the commit is interrupted
            temporaries.append(f"labstack-migrate-source:{secrets.token_hex(6)}")
            source_name, described = commit_container(source_container, temporaries[-1], log)
            source = temporaries[-1]
            # `docker run --tmpfs` mounts are listed in HostConfig only, not among the Mounts
            mounts = list(source_container.attrs.get("Mounts") or []) + [
                {"Destination": path, "Type": "tmpfs"}
                for path in (source_container.attrs["HostConfig"].get("Tmpfs") or {})]
        else:
            if not image_exists(from_image):
                raise LabstackError(f"no image {from_image!r} here (commit it first, or pull it)")
            source_container, processes = None, []
            source, described, source_name = from_image, f"image {from_image}", from_image.split("/")[-1].split(":")[0]
            # a committed image holds no volume: any it declares is content the migration cannot see
            mounts = [{"Destination": path, "Type": "volume"}
                      for path in (client().images.get(from_image).attrs["Config"].get("Volumes") or {})]
        config = client().images.get(source).attrs["Config"]
        env = dict(entry.split("=", 1) for entry in config.get("Env") or [] if "=" in entry)
        # the app: what runs, else what the image's command starts, else what the probe finds installed
        reader, app = detect(processes, (config.get("Entrypoint") or []) + (config.get("Cmd") or []),
                             config.get("WorkingDir") or "")
        fill_details(source_container, reader.process(app) if reader else None)
        image_user = config.get("User") or "root"
        run_as = user or (reader.owner(app, env) if reader else None)
        if run_as and not user and image_user in ("", "root", "0", "0:0"):
            log(f"labstack: the image runs as root, but {reader.kind}'s work belongs to {run_as}: migrating as that user")
        identity = probe_image(source, run_as, reader.probe_env(app) if reader else {})
        check_os(identity, described)
        if reader is None:
            reader = detect_installed(identity, described)
        state = reader.state(app, identity, env, source_container)
        plan = plan_mounts(mounts, state, list(skip_mounts))
        if not container and plan.copy:
            names = " ".join(mount["Destination"] for mount in plan.copy)
            raise LabstackError(f"{described} declares the volume(s) {names}, which hold the user's state but are not "
                                f"in a committed image: migrate the running container with --container, or pass "
                                f"--skip-mount for each")
        reader.check(identity, described)
        check_user(identity, described)
        policy = Policy(keep_paths=tuple(keep), keep_env=frozenset(keep_env), keep_sudo=keep_sudo,
                        extra_setuid_places=tuple(m["Destination"] for m in plan.copy), **reader.policy(state))
        temporaries.append(f"labstack-migrate-scrubbed:{secrets.token_hex(6)}")
        copied = scrubbed_image(source, source_container, plan.copy, policy, (identity.uid, identity.gid),
                                config.get("Env") or [], str(identity.uid), config.get("WorkingDir") or "/",
                                temporaries[-1], max_copy_bytes, log)
        findings = probe_image(temporaries[-1], f"{identity.uid}:{identity.gid}", reader.probe_env(app, state))
        log(f"labstack: found {reader.kind} in {described}:\n{report(findings, reader, state)}")
        log(state_report(state, plan, copied, policy))
        target = target or default_target(source_name, owner, registry, tag)
        args = {
            "SOURCE_IMAGE": temporaries[-1], "NB_USER": findings.user, "NB_UID": str(findings.uid),
            "NB_GID": str(findings.gid), "NB_HOME": findings.home,
            "LABSTACK_VERSION": __version__, "MIGRATED_FROM": described,
            # the same Jupyter as every labstack image, installed the same way: the pins of images/base
            **{name: value for name, value in pinned("base").items() if name.startswith("JUPYTER") or name == "UV_VERSION"},
            **reader.build_args(findings, state, {"cran_url": cran_url}),
        }
        args.update(build_args)
        build(BuildRequest(dockerfile=REPO_ROOT / "images" / "mig" / "Dockerfile", context=REPO_ROOT,
                           tags=[target], build_args=args, ca_bundle=ca_bundle, network=network,
                           no_cache=no_cache, target=reader.stage), log)
        source_size = client().images.get(source).attrs["Size"]
        size = client().images.get(target).attrs["Size"]
    finally:
        for temporary in reversed(temporaries):
            remove_image(temporary)  # the scrubbed layer stays, as the new image's parent
    for line in built_notes(target):
        log(line)
    seconds = time.monotonic() - started
    copied_bytes = sum(item.bytes for item in copied)
    log(f"labstack: migrated {described} to {target} in {seconds:.0f}s; {copied_bytes / 1e6:.1f} MB copied from "
        f"mounts; the image is {size / 1e6:.0f} MB, {(size - source_size) / 1e6:+.0f} MB against the committed "
        f"image ({source_size / 1e6:.0f} MB)")
    hub_user = hub_user or findings.user
    log(f"labstack: Zero-to-JupyterHub values (hub.extraConfig); this image holds one person's work, so they "
        f"offer it to the hub user {hub_user} only (--hub-user NAME for another):\n"
        + profile(target, findings, reader, state, hub_user))
    return {"image": target, "seconds": seconds, "added_bytes": size - source_size, "findings": findings,
            "copied_bytes": copied_bytes, "paths": state, "kind": reader.kind}


def built_notes(image: str) -> list[str]:
    """What the image's build wrote for the user to read (/usr/local/lib/labstack/notes: one line each)."""
    with TrackedContainer(image, purpose="migrate", entrypoint=["cat", NOTES], command=[], network_mode="none", user="0") as reader:
        container = reader.run_detached()
        container.wait(timeout=60)
        return [line for line in container.logs().decode(errors="replace").splitlines() if line.startswith("labstack")]


def state_report(state, plan, copied, policy: Policy) -> str:
    lines = state.report()
    lines += [f"  mount copied: {item.destination} ({item.bytes / 1e6:.1f} MB)" for item in copied]
    lines += [f"  mount left out, as asked (--skip-mount): {path}" for path in plan.skipped]
    lines += [f"  mount left out, holds none of the user's state: {path}" for path in plan.unrelated]
    lines += [f"  dropped: {line}" for line in policy.dropped] or ["  dropped: nothing"]
    return "labstack: the user's state:\n" + "\n".join(lines)
