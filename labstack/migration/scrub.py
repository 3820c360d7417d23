"""What a migrated image must not carry: one person's secrets, and ways to become root.

A migrated image is offered to a hub, so whatever the source container held (keys, tokens, passwords,
shell histories, a NOPASSWD sudo rule) would be handed to whoever can pull the image. The policy below
decides, path by path and variable by variable, what is dropped or edited; `rootfs` applies it while it
writes the image's single layer, so nothing dropped is in any layer. --keep PATH, --keep-env NAME and
--keep-sudo opt back in.
"""
from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# Files in ~/.ssh that hold nothing secret; every other file there may be a private key.
SSH_PUBLIC = {"known_hosts", "known_hosts.old", "config", "authorized_keys", "authorized_keys2", "environment"}

# (suffix of the path, as parts; why it is dropped). Matched anywhere, so every home counts, /root too.
SECRET_FILES = [
    ((".git-credentials",), "git credentials"),
    ((".config", "git", "credentials"), "git credentials"),
    ((".netrc",), "netrc credentials"),
    ((".pypirc",), "package index credentials"),
    ((".docker", "config.json"), "container registry credentials"),
    ((".aws", "credentials"), "cloud credentials"),
    ((".kube", "config"), "Kubernetes credentials"),
    ((".config", "gh", "hosts.yml"), "GitHub CLI token"),
    ((".Rhistory",), "history"),
    # RStudio Server's keys: a new one is made at each start (jupyter-rsession-proxy passes its own)
    (("secure-cookie-key",), "RStudio Server key"),
    (("session-rpc-key",), "RStudio Server key"),
    ((".lesshst",), "history"),
    ((".histfile",), "history"),
    ((".viminfo",), "history"),
    (("fish_history",), "history"),
]
# Folders dropped whole (parts that must appear in the path, in this order).
SECRET_FOLDERS = [
    ((".config", "gcloud"), "cloud credentials"),
    ((".azure",), "cloud credentials"),
    ((".aws", "sso", "cache"), "cloud credentials"),
    ((".aws", "cli", "cache"), "cloud credentials"),
]
HISTORY = re.compile(r"^\.[\w.-]*_history$|^history\.sqlite$")  # .bash_history, .python_history, ipython

# Lines that are removed from files that are otherwise kept.
CODE_SERVER_SECRET_LINE = re.compile(rb"^\s*(password|hashed-password)\s*:")
NPMRC_SECRET_LINE = re.compile(rb"(_auth|_authToken|_password)\s*=")
NOPASSWD_LINE = re.compile(rb"NOPASSWD")

SECRET_ENV = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL|PRIVATE|_KEY$|APIKEY|_PAT$|^AWS_|^AZURE_CLIENT|"
                        r"^GOOGLE_APPLICATION", re.IGNORECASE)
# R's environment files (~/.Renviron, a project's .Renviron, R_HOME/etc/Renviron.site): NAME=value lines.
RENVIRON_NAMES = {".Renviron", "Renviron.site"}
_ASSIGNMENT = re.compile(rb"^\s*(?:export\s+)?([A-Za-z_.][A-Za-z0-9_.]*)\s*=")


class SecretAssignment:
    """Lines of an environment file that set a variable whose name marks it as a secret (GITHUB_PAT=...)."""

    @staticmethod
    def search(line: bytes) -> bool:
        match = _ASSIGNMENT.match(line)
        return bool(match and SECRET_ENV.search(match.group(1).decode(errors="replace")))


SECRET_ASSIGNMENT = SecretAssignment()

# setuid/setgid files that come from no Debian package, and fixuid wherever it is (it makes any user
# root-equivalent at start): their special bits are cleared.
SETUID_PLACES = ("usr/local", "opt", "home", "root")


@dataclass
class Policy:
    keep_paths: tuple[str, ...] = ()  # absolute paths in the image (files or folders) left as they are
    keep_env: frozenset[str] = frozenset()
    keep_sudo: bool = False
    code_server_configs: tuple[str, ...] = ()  # config.yaml files named by --config, besides the usual place
    extra_setuid_places: tuple[str, ...] = ()  # folders copied from mounts (user state)
    dropped: list[str] = field(default_factory=list)  # what was done, one line each, for the report

    def kept(self, path: str) -> bool:
        return any(path == keep or path.startswith(keep.rstrip("/") + "/") for keep in self.keep_paths)

    def file_verdict(self, path: str) -> str | None:
        """Why the file at this absolute path is dropped, or None to keep it."""
        if self.kept(path):
            return None
        parts = PurePosixPath(path).parts[1:]
        if not parts:
            return None
        name = parts[-1]
        if ".ssh" in parts[:-1] and name not in SSH_PUBLIC and not name.endswith(".pub"):
            return "ssh private key"
        if len(parts) >= 3 and parts[:2] == ("etc", "ssh") and name.startswith("ssh_host_") and name.endswith("_key"):
            return "ssh host key"
        for suffix, reason in SECRET_FILES:
            if parts[-len(suffix):] == suffix:
                return reason
        for folder, reason in SECRET_FOLDERS:
            if _contains(parts, folder):
                return reason
        if HISTORY.match(name):
            return "history"
        return None

    def line_filter(self, path: str) -> "re.Pattern | SecretAssignment | None":
        """What marks the lines to remove from this file (which is otherwise kept): anything with
        `search(line)`, a compiled pattern or SECRET_ASSIGNMENT; or None."""
        if self.kept(path):
            return None
        parts = PurePosixPath(path).parts
        if path in self.code_server_configs or parts[-2:] == ("code-server", "config.yaml"):
            return CODE_SERVER_SECRET_LINE
        if parts[-1] == ".npmrc":
            return NPMRC_SECRET_LINE
        if parts[-1] in RENVIRON_NAMES:
            return SECRET_ASSIGNMENT
        if not self.keep_sudo and (path == "/etc/sudoers" or parts[:3] == ("/", "etc", "sudoers.d")):
            return NOPASSWD_LINE
        return None

    def clears_setuid(self, path: str, mode: int) -> bool:
        if self.keep_sudo or self.kept(path) or not mode & (stat.S_ISUID | stat.S_ISGID):
            return False
        relative = path.lstrip("/")
        places = SETUID_PLACES + tuple(place.strip("/") for place in self.extra_setuid_places)
        return PurePosixPath(path).name == "fixuid" or any(
            relative == place or relative.startswith(place + "/") for place in places)

    def environment(self, env: list[str]) -> list[str]:
        """The image's environment (KEY=VALUE) without the variables whose names mark them as secrets."""
        kept = []
        for entry in env:
            name = entry.split("=", 1)[0]
            if SECRET_ENV.search(name) and name not in self.keep_env:
                self.dropped.append(f"environment variable {name}")
            else:
                kept.append(entry)
        return kept


def _contains(parts: tuple[str, ...], folder: tuple[str, ...]) -> bool:
    """Whether `folder` appears as consecutive parts of `parts`."""
    width = len(folder)
    return any(parts[index:index + width] == folder for index in range(len(parts) - width + 1))


def remove_lines(data: bytes, pattern: re.Pattern) -> tuple[bytes, int]:
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if not pattern.search(line)]
    return b"".join(kept), len(lines) - len(kept)
