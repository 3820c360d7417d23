"""Where a container keeps its user's work: its processes, read from /proc, and its mounts.

`docker commit` leaves out volumes and bind mounts, and real deployments keep everything there
(codercom/code-server bind-mounts ~/.local, ~/.config and the project; linuxserver/code-server keeps
it all in a /config volume; rocker/rstudio's home is a volume). So the migration reads the app's own
process (its user, flags, working folder and HOME; labstack/readers/ knows each app's) and the
container's mounts, and decides which mounts hold the user's state.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from .. import LabstackError

# Run in the source container as root: every process as "pid<TAB>uid<TAB>gid<TAB>cwd<TAB>HOME<TAB>args"
# with the arguments separated by \x1f. It only reads /proc, so the container's files are untouched.
# Root in a container lacks CAP_SYS_PTRACE, so another user's cwd and environ stay empty here: for the
# process found, DETAILS_SCRIPT reads them again as that process's own user.
PROCESS_SCRIPT = r"""
for dir in /proc/[0-9]*; do
    [ -r "$dir/cmdline" ] || continue
    args=$(tr '\000' '\037' < "$dir/cmdline" 2>/dev/null) || continue
    [ -n "$args" ] || continue
    uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "$dir/status")
    gid=$(sed -n 's/^Gid:[[:space:]]*\([0-9]*\).*/\1/p' "$dir/status")
    cwd=$(readlink "$dir/cwd" 2>/dev/null)
    home=$(tr '\000' '\n' < "$dir/environ" 2>/dev/null | sed -n 's/^HOME=//p' | head -n 1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${dir#/proc/}" "$uid" "$gid" "$cwd" "$home" "$args"
done 2>/dev/null
"""
DETAILS_SCRIPT = r"""
readlink "/proc/$1/cwd"
tr '\000' '\n' < "/proc/$1/environ" | sed -n 's/^HOME=//p' | head -n 1
"""


@dataclass
class Process:
    pid: int
    uid: int
    gid: int
    cwd: str
    home: str
    argv: list[str]

    @property
    def program(self) -> str:
        return posixpath.basename(self.argv[0]) if self.argv else ""


def parse_processes(output: str) -> list[Process]:
    """PROCESS_SCRIPT's output, one Process per well-formed line, in pid order."""
    found = []
    for line in output.splitlines():
        fields = line.split("\t", 5)
        if len(fields) != 6 or not fields[0].isdigit():
            continue
        pid, uid, gid, cwd, home, joined = fields
        found.append(Process(int(pid), int(uid), int(gid), cwd, home, joined.rstrip("\x1f").split("\x1f")))
    return sorted(found, key=lambda process: process.pid)


def read_processes(container) -> list[Process]:
    """The processes of a running container (none for a stopped one)."""
    if container is None or container.status != "running":
        return []
    result = container.exec_run(["sh", "-c", PROCESS_SCRIPT], user="root")
    return parse_processes(result.output.decode(errors="replace")) if result.exit_code == 0 else []


def fill_details(container, process) -> None:
    """The cwd and HOME of a process of another user, read as that user (root here cannot)."""
    if container is None or process is None or process.pid is None or (process.cwd and process.home):
        return
    details = container.exec_run(["sh", "-c", DETAILS_SCRIPT, "details", str(process.pid)],
                                 user=f"{process.uid}:{process.gid}")
    cwd, _, home = details.output.decode(errors="replace").partition("\n")
    process.cwd, process.home = process.cwd or cwd.strip(), process.home or home.strip()


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class MountPlan:
    copy: list[dict] = field(default_factory=list)  # docker inspect's Mounts entries to copy
    skipped: list[str] = field(default_factory=list)  # destinations left out on request
    unrelated: list[str] = field(default_factory=list)  # mounts that hold none of the user's state


def plan_mounts(mounts: list[dict], paths, skip: list[str]) -> MountPlan:
    """Which mounts hold the user's state: one holding a folder of `paths.all()`, or inside one of them."""
    plan = MountPlan()
    skip = [posixpath.normpath(path) for path in skip]
    destinations = [mount["Destination"] for mount in mounts]
    for wanted in skip:
        if wanted not in destinations:
            raise LabstackError(f"--skip-mount {wanted}: the container has no mount there "
                                f"(its mounts: {', '.join(destinations) or 'none'})")
    for mount in sorted(mounts, key=lambda m: m["Destination"]):
        destination = mount["Destination"]
        holds_state = any(_within(path, destination) or _within(destination, path) for path in paths.all())
        if not holds_state:
            plan.unrelated.append(destination)
        elif destination in skip:
            plan.skipped.append(destination)
        elif any(_within(destination, outer["Destination"]) for outer in plan.copy):
            continue  # copied with the mount it is in
        elif mount.get("Type") == "tmpfs":
            raise LabstackError(f"{destination} holds the user's state in a tmpfs, which cannot be copied: "
                                f"pass --skip-mount {destination} to migrate without it")
        else:
            plan.copy.append(mount)
    return plan
