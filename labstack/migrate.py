"""Migrate a running code-server container into a Jupyter-enabled image, keeping its user's work.

commit (paused) -> read the code-server process and the mounts (workstate) -> rewrite the commit as one
layer, secrets dropped and mounted state copied in (rootfs, scrub) -> probe it (OS, user, code-server,
extensions) -> build images/mig on top. The source container is only paused for the commit and read.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import yaml

from . import REPO_ROOT, LabstackError, __version__
from .builder import check_ca_bundle
from .engine import BuildRequest, Log, build, client, image_exists, remove_image
from .layers import pinned
from .rootfs import scrubbed_image
from .scrub import Policy
from .containers import TrackedContainer
from .workstate import DETAILS_SCRIPT, PROCESS_SCRIPT, CodeServerProcess, from_command, parse_processes, plan_mounts, state_paths

SUPPORTED_OS = ("debian", "ubuntu")

# Runs in an image as the user that owns the work: what the migration needs to know, as key=value
# lines. CODE_SERVER_BIN (the install's own bin folder, when the process told it) and EXTENSIONS_DIR
# come in through the environment.
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
cs=$(PATH="${CODE_SERVER_BIN:+$CODE_SERVER_BIN:}$PATH" command -v code-server || true)
echo "code_server=$cs"
if [ -n "$cs" ]; then
    timeout 60 "$cs" --version 2>/dev/null | sed 's/^/code_server_version_output=/'
fi
if [ -n "${EXTENSIONS_DIR:-}" ]; then
    echo "extensions=$(find "$EXTENSIONS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | wc -l)"
fi
"""
# "4.139.1 0f1e2d3c4b with Code 1.106.0": the first line that starts so, whatever code-server logs before it
_VERSION_LINE = re.compile(r"^(\d+\.\d+\.\d+\S*)(\s+[0-9a-f]{7,40}\b.*)?$")


def code_server_version(lines: list[str]) -> str:
    for line in lines:
        match = _VERSION_LINE.match(line.strip())
        if match:
            return line.strip()
    return ""


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
    extensions: int

    def report(self, extensions_dir: str) -> str:
        return "\n".join([
            f"  OS:           {self.os_name} ({self.os_id})",
            f"  user:         {self.user} (uid {self.uid}, gid {self.gid})",
            f"  home:         {self.home}",
            f"  code-server:  {self.code_server} ({self.code_server_version or 'version unknown'})",
            f"  extensions:   {self.extensions} in {extensions_dir}",
        ])


def probe_image(image: str, user: str | None = None, code_server_bin: str | None = None,
                extensions_dir: str | None = None) -> Findings:
    kwargs = {"user": user} if user else {}
    environment = {"CODE_SERVER_BIN": code_server_bin or "", "EXTENSIONS_DIR": extensions_dir or ""}
    with TrackedContainer(image, entrypoint=["sh", "-c", _PROBE], command=[], network_mode="none",
                          environment=environment, **kwargs) as probe:
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
    version_output = [line.split("=", 1)[1] for line in output.splitlines()
                      if line.startswith("code_server_version_output=")]
    return Findings(
        os_id=values.get("os_id", "unknown"), os_like=values.get("os_like", ""),
        os_name=values.get("os_name", "unknown"), user=values["user"], uid=int(values["uid"]),
        gid=int(values["gid"]), home=values["home"], code_server=values.get("code_server", ""),
        code_server_version=code_server_version(version_output), extensions=int(values.get("extensions", "0")),
    )


def check(findings: Findings, source: str) -> None:
    family = {findings.os_id, *findings.os_like.split()}
    if not family & set(SUPPORTED_OS):
        raise LabstackError(f"{source} runs {findings.os_name}: migration supports Debian and Ubuntu only")
    if not findings.code_server:
        raise LabstackError(f"{source} has no code-server on the PATH of user {findings.user}")
    if findings.uid == 0:
        raise LabstackError(f"{source} runs as root: pass --user with the account that owns the work")


def read_process(container) -> CodeServerProcess | None:
    """The running code-server process of the container (its user, flags, cwd, HOME), or None."""
    if container.status != "running":
        return None
    result = container.exec_run(["sh", "-c", PROCESS_SCRIPT], user="root")
    process = parse_processes(result.output.decode(errors="replace")) if result.exit_code == 0 else None
    if process and not (process.cwd and process.home):
        details = container.exec_run(["sh", "-c", DETAILS_SCRIPT, "details", str(process.pid)],
                                     user=f"{process.uid}:{process.gid}")
        cwd, _, home = details.output.decode(errors="replace").partition("\n")
        process.cwd, process.home = process.cwd or cwd.strip(), process.home or home.strip()
    return process


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


def profile_entry(target: str, findings: Findings, workspace: str | None) -> str:
    """The Zero-to-JupyterHub profileList entry for the migrated image: its own user, home and folder."""
    default_url = f"/vscode/?folder={workspace}" if workspace else "/vscode/"
    entry = [{
        "display_name": f"{findings.user}'s VS Code (migrated)",
        "kubespawner_override": {
            "image": target, "cmd": ["start-jupyter"], "uid": findings.uid, "gid": findings.gid,
            "default_url": default_url, "environment": {"HOME": findings.home},
            # the work is in the image's home: a home volume on top would hide it
            "volumes": [], "volume_mounts": [],
        },
    }]
    return yaml.safe_dump(entry, sort_keys=False)


def migrate(*, container: str | None, from_image: str | None, target: str | None, user: str | None,
            owner: str, registry: str, tag: str, ca_bundle: Path | None, network: str | None,
            no_cache: bool, build_args: dict[str, str], log: Log, keep: list[str] = (),
            keep_env: list[str] = (), keep_sudo: bool = False, skip_mounts: list[str] = (),
            max_copy_size: str = "4G") -> dict:
    if bool(container) == bool(from_image):
        raise LabstackError("give exactly one of --container and --from-image")
    ca_bundle = check_ca_bundle(ca_bundle)
    max_copy_bytes = parse_size(max_copy_size)
    started = time.monotonic()
    temporaries: list[str] = []
    try:
        if container:
            source_container = find_container(container)
            process = read_process(source_container)
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
            source_container, process = None, None
            source, described, source_name = from_image, f"image {from_image}", from_image.split("/")[-1].split(":")[0]
            # a committed image holds no volume: any it declares is content the migration cannot see
            mounts = [{"Destination": path, "Type": "volume"}
                      for path in (client().images.get(from_image).attrs["Config"].get("Volumes") or {})]
        config = client().images.get(source).attrs["Config"]
        if process is None:  # not running, or from an image: code-server's command line as configured
            process = from_command((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
            if process:
                process.cwd = config.get("WorkingDir") or ""
        image_user = config.get("User") or "root"
        run_as = user
        if not run_as and process and process.uid not in (None, 0):
            run_as = f"{process.uid}:{process.gid}"
            if image_user in ("", "root", "0", "0:0"):
                log(f"labstack: the image runs as root, but code-server runs as uid {process.uid}: migrating as that user")
        identity = probe_image(source, run_as, process.install_bin() if process else None)
        env = dict(entry.split("=", 1) for entry in config.get("Env") or [] if "=" in entry)
        paths = state_paths(process, identity.home, env)
        plan = plan_mounts(mounts, paths, list(skip_mounts))
        if not container and plan.copy:
            names = " ".join(mount["Destination"] for mount in plan.copy)
            raise LabstackError(f"{described} declares the volume(s) {names}, which hold the user's state but are not "
                                f"in a committed image: migrate the running container with --container, or pass "
                                f"--skip-mount for each")
        check(identity, described)
        policy = Policy(keep_paths=tuple(keep), keep_env=frozenset(keep_env), keep_sudo=keep_sudo,
                        code_server_configs=(paths.config,),
                        extra_setuid_places=tuple(m["Destination"] for m in plan.copy))
        temporaries.append(f"labstack-migrate-scrubbed:{secrets.token_hex(6)}")
        copied = scrubbed_image(source, source_container, plan.copy, policy, (identity.uid, identity.gid),
                                config.get("Env") or [], str(identity.uid), config.get("WorkingDir") or "/",
                                temporaries[-1], max_copy_bytes, log)
        findings = probe_image(temporaries[-1], f"{identity.uid}:{identity.gid}",
                               process.install_bin() if process else None, paths.extensions_dir)
        log(f"labstack: found in {described}:\n{findings.report(paths.extensions_dir)}")
        log(state_report(paths, plan, copied, policy))
        target = target or default_target(source_name, owner, registry, tag)
        args = {
            "SOURCE_IMAGE": temporaries[-1], "NB_USER": findings.user, "NB_UID": str(findings.uid),
            "NB_GID": str(findings.gid), "NB_HOME": findings.home,
            "CODE_SERVER_DIR": str(Path(findings.code_server).parent),
            "CODE_EXTENSIONSDIR": paths.extensions_dir, "CODE_USER_DATA_DIR": paths.user_data_dir,
            "CODE_CONFIG": paths.config, "CODE_WORKINGDIR": paths.workspace or findings.home,
            "LABSTACK_VERSION": __version__, "MIGRATED_FROM": described,
            # the same Jupyter as every labstack image: the pins of images/base and images/code-server
            **{name: value for name, value in pinned("base").items() if name.startswith("JUPYTER")},
            "JUPYTER_VSCODE_PROXY_VERSION": pinned("code-server")["JUPYTER_VSCODE_PROXY_VERSION"],
        }
        args.update(build_args)
        build(BuildRequest(dockerfile=REPO_ROOT / "images" / "mig" / "Dockerfile", context=REPO_ROOT,
                           tags=[target], build_args=args, ca_bundle=ca_bundle, network=network,
                           no_cache=no_cache), log)
        source_size = client().images.get(source).attrs["Size"]
        size = client().images.get(target).attrs["Size"]
    finally:
        for temporary in reversed(temporaries):
            remove_image(temporary)  # the scrubbed layer stays, as the new image's parent
    seconds = time.monotonic() - started
    copied_bytes = sum(item.bytes for item in copied)
    log(f"labstack: migrated {described} to {target} in {seconds:.0f}s; {copied_bytes / 1e6:.1f} MB copied from "
        f"mounts; the image is {size / 1e6:.0f} MB, {(size - source_size) / 1e6:+.0f} MB against the committed "
        f"image ({source_size / 1e6:.0f} MB)")
    log("labstack: profile entry (Zero-to-JupyterHub singleuser.profileList); this image holds one person's "
        "work: offer it to that person only\n" + profile_entry(target, findings, paths.workspace))
    return {"image": target, "seconds": seconds, "added_bytes": size - source_size, "findings": findings,
            "copied_bytes": copied_bytes, "paths": paths}


def state_report(paths, plan, copied, policy: Policy) -> str:
    lines = [f"  user data:    {paths.user_data_dir}", f"  config:       {paths.config}",
             f"  workspace:    {paths.workspace or '(none given)'}"]
    lines += [f"  mount copied: {item.destination} ({item.bytes / 1e6:.1f} MB)" for item in copied]
    lines += [f"  mount left out, as asked (--skip-mount): {path}" for path in plan.skipped]
    lines += [f"  mount left out, holds none of the user's state: {path}" for path in plan.unrelated]
    lines += [f"  dropped: {line}" for line in policy.dropped] or ["  dropped: nothing"]
    return "labstack: the user's state:\n" + "\n".join(lines)
