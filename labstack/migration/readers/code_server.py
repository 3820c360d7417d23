"""code-server: its process, its flags and the folders it keeps its state in, as code-server decides them."""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from ... import LabstackError
from ..workstate import Process
from . import Reader

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


def pick(processes: list[Process]) -> CodeServerProcess | None:
    """The code-server process among the container's.

    A launcher that stays the parent (su, runuser) shows the same command line as root, so a process
    that runs as someone else wins; among equals, the outermost (lowest pid).
    """
    found = []
    for running in processes:
        process = from_command(running.argv)
        if process:
            process.pid, process.uid, process.gid = running.pid, running.uid, running.gid
            process.cwd, process.home = running.cwd, running.home
            found.append((process.uid == 0, running.pid, process))
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

    def report(self) -> list[str]:
        return [f"  user data:    {self.user_data_dir}", f"  config:       {self.config}",
                f"  workspace:    {self.workspace or '(none given)'}"]


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





# Run as the user; CODE_SERVER_BIN (the install's own bin folder, when the process told it) and
# EXTENSIONS_DIR come in through the environment.
PROBE = r"""
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


class CodeServerReader(Reader):
    kind = "code-server"
    stage = "code-server"
    probe = PROBE

    def find(self, processes):
        return pick(processes)

    def from_command(self, argv, workdir):
        process = from_command(argv)
        if process:
            process.cwd = workdir
        return process

    def installed(self, findings):
        return bool(findings.one("code_server"))

    def process(self, app):
        return app

    def owner(self, app, env):
        if app is not None and app.uid not in (None, 0):
            return f"{app.uid}:{app.gid}"
        return None

    def probe_env(self, app, state=None):
        return {"CODE_SERVER_BIN": (app.install_bin() if app else None) or "",
                "EXTENSIONS_DIR": state.extensions_dir if state else ""}

    def state(self, app, identity, env, container):
        return state_paths(app, identity.home, env)

    def policy(self, state):
        return {"code_server_configs": (state.config,)}

    def check(self, findings, source):
        if not findings.one("code_server"):
            raise LabstackError(f"{source} has no code-server on the PATH of user {findings.user}")

    def report(self, findings, state):
        version = code_server_version(findings.values.get("code_server_version_output", []))
        return [f"  code-server:  {findings.one('code_server')} ({version or 'version unknown'})",
                f"  extensions:   {findings.one('extensions', '0')} in {state.extensions_dir}"]

    def build_args(self, findings, state, options):
        from ...pins import pinned

        return {
            "CODE_SERVER_DIR": posixpath.dirname(findings.one("code_server")),
            "CODE_EXTENSIONSDIR": state.extensions_dir, "CODE_USER_DATA_DIR": state.user_data_dir,
            "CODE_CONFIG": state.config, "CODE_WORKINGDIR": state.workspace or findings.home,
            "JUPYTER_VSCODE_PROXY_VERSION": pinned("code-server")["JUPYTER_VSCODE_PROXY_VERSION"],
        }

    def landing(self, findings, state):
        return "VS Code", f"/vscode/?folder={state.workspace}" if state.workspace else "/vscode/"
