"""Where a code-server container keeps its user's work: read from the running process and the mounts.

`docker commit` leaves out volumes and bind mounts, and real deployments keep everything there
(codercom/code-server bind-mounts ~/.local, ~/.config and the project; linuxserver/code-server keeps
it all in a /config volume and runs code-server as abc with --user-data-dir/--extensions-dir). So
the migration reads the code-server process itself (its user, flags, working folder and HOME) and
the container's mounts, and decides which mounts hold the user's state.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from . import LabstackError

# code-server flags that take a value (the rest are switches), so a positional folder can be told
# from a flag's value.
VALUE_FLAGS = {
    "--bind-addr", "--auth", "--config", "--user-data-dir", "--extensions-dir", "--socket", "--socket-mode",
    "--cert", "--cert-key", "--cert-host", "--locale", "--log", "--proxy-domain", "--host", "--port",
    "--app-name", "--welcome-text", "--i18n", "--abs-proxy-base-path", "--session-socket", "--github-auth",
    "--install-extension", "--uninstall-extension", "--extra-extensions-dir", "--extra-builtin-extensions-dir",
    "--enable-proposed-api", "--trusted-origins", "--idle-timeout-seconds",
}
ENTRY_SUFFIX = "/out/node/entry.js"

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
class CodeServerProcess:
    pid: int | None
    uid: int | None
    gid: int | None
    args: list[str]  # code-server's own arguments (after entry.js or the code-server program)
    program: str  # the install's code-server program or entry.js
    cwd: str
    home: str

    def flag(self, name: str) -> str | None:
        for index, arg in enumerate(self.args):
            flag, has_value, value = arg.partition("=")
            if flag == name:
                return value if has_value else (self.args[index + 1] if index + 1 < len(self.args) else None)
        return None

    def folder(self) -> str | None:
        """The workspace: the last positional argument, made absolute against the process's cwd."""
        positional, skip = [], False
        for arg in self.args:
            if skip:
                skip = False
            elif arg.startswith("--"):
                skip = "=" not in arg and arg in VALUE_FLAGS
            else:
                positional.append(arg)
        if not positional or not (self.cwd or positional[-1].startswith("/")):
            return None  # a relative folder with no known working folder: nothing to say where it is
        return posixpath.normpath(posixpath.join(self.cwd, positional[-1]))

    def install_bin(self) -> str | None:
        """The folder with the install's own `code-server` program, where the process tells it."""
        if self.program.endswith(ENTRY_SUFFIX):
            return self.program[: -len(ENTRY_SUFFIX)] + "/bin"
        if posixpath.basename(self.program) == "code-server":
            return posixpath.dirname(self.program)
        return None


def parse_processes(output: str) -> CodeServerProcess | None:
    """The code-server process from PROCESS_SCRIPT's output.

    A launcher that stays the parent (su, runuser) shows the same command line as root, so a process
    that runs as someone else wins; among equals, the outermost (lowest pid).
    """
    found = []
    for line in output.splitlines():
        fields = line.split("\t", 5)
        if len(fields) != 6 or not fields[0].isdigit():
            continue
        pid, uid, gid, cwd, home, joined = fields
        process = from_command(joined.rstrip("\x1f").split("\x1f"))
        if process:
            process.pid, process.uid, process.gid, process.cwd, process.home = int(pid), int(uid), int(gid), cwd, home
            found.append((process.uid == 0, int(pid), process))
    return min(found, key=lambda item: item[:2])[2] if found else None


def from_command(argv: list[str]) -> CodeServerProcess | None:
    """code-server's arguments from a command line (a process's, or an image's ENTRYPOINT + CMD)."""
    for index, arg in enumerate(argv):
        if arg.endswith(ENTRY_SUFFIX) or (posixpath.basename(arg) == "code-server" and not arg.startswith("-")):
            return CodeServerProcess(pid=None, uid=None, gid=None, args=argv[index + 1:], program=arg, cwd="", home="")
    return None


@dataclass
class StatePaths:
    home: str
    user_data_dir: str
    extensions_dir: str
    config: str
    workspace: str | None

    def all(self) -> list[str]:
        return [path for path in (self.home, self.user_data_dir, self.extensions_dir,
                                  posixpath.dirname(self.config), self.workspace) if path]


def state_paths(process: CodeServerProcess | None, home: str, env: dict[str, str]) -> StatePaths:
    """code-server's folders as code-server itself would choose them from its flags and environment."""
    home = (process.home if process and process.home else "") or env.get("HOME") or home
    data_home = env.get("XDG_DATA_HOME") or f"{home}/.local/share"
    config_home = env.get("XDG_CONFIG_HOME") or f"{home}/.config"
    user_data_dir = (process and process.flag("--user-data-dir")) or f"{data_home}/code-server"
    return StatePaths(
        home=home,
        user_data_dir=user_data_dir,
        extensions_dir=(process and process.flag("--extensions-dir")) or f"{user_data_dir}/extensions",
        config=(process and process.flag("--config")) or f"{config_home}/code-server/config.yaml",
        workspace=process.folder() if process else None,
    )


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class MountPlan:
    copy: list[dict] = field(default_factory=list)  # docker inspect's Mounts entries to copy
    skipped: list[str] = field(default_factory=list)  # destinations left out on request
    unrelated: list[str] = field(default_factory=list)  # mounts that hold none of the user's state


def plan_mounts(mounts: list[dict], paths: StatePaths, skip: list[str]) -> MountPlan:
    """Which mounts hold the user's state: one holding a state folder, or inside one of them."""
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
