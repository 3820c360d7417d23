"""What `build.py migrate` reads from a container, one reader per kind of app it can migrate.

A reader finds its app among the container's processes (or in the image's command, or in the probe
of the image when nothing runs), names the account that owns the work, says which folders hold that
user's state (the mounts holding them are copied in), adds its lines to the probe of the image, and
fills in the build arguments and the landing page of the images/mig stage of its name. A third kind
of app is one more module here, listed in READERS, and one more stage there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ... import LabstackError
from ..workstate import Process


@dataclass
class Findings:
    """The probe of an image, run as the user: who they are, the OS, and each reader's key=value lines."""
    os_id: str
    os_like: str
    os_name: str
    user: str
    uid: int
    gid: int
    home: str
    values: dict[str, list[str]] = field(default_factory=dict)

    def one(self, key: str, default: str = "") -> str:
        return (self.values.get(key) or [default])[0]


class Reader:
    kind = ""  # as people name the app: "code-server", "R"
    stage = ""  # its stage (target) in images/mig/Dockerfile
    probe = ""  # shell lines the probe runs as the user: key=value, each key once (or repeated for a list)

    def find(self, processes: list[Process]):
        """The app, from the container's running processes; None if it does not run there."""
        return None

    def from_command(self, argv: list[str], workdir: str):
        """The app, from the image's ENTRYPOINT + CMD (a stopped container, a committed image); or None."""
        return None

    def installed(self, findings: Findings) -> bool:
        """Whether the probe found the app in the image, where nothing told of it before."""
        return False

    def process(self, app) -> Process | None:
        """The app's process that runs as the user (its cwd and HOME are read as them)."""
        return None

    def owner(self, app, env: dict[str, str]) -> str | None:
        """The account that owns the work ("uid:gid" or a name) as the app tells it, or None."""
        return None

    def probe_env(self, app, state=None) -> dict[str, str]:
        return {}

    def state(self, app, identity: Findings, env: dict[str, str], container):
        """Where the app keeps the user's state: an object with .all() (folders) and .report() (lines)."""
        raise NotImplementedError

    def policy(self, state) -> dict:
        """Policy fields this app needs (files of its own to filter)."""
        return {}

    def check(self, findings: Findings, source: str) -> None:
        pass

    def report(self, findings: Findings, state) -> list[str]:
        return []

    def build_args(self, findings: Findings, state, options: dict[str, str]) -> dict[str, str]:
        return {}

    def landing(self, findings: Findings, state) -> tuple[str, str]:
        """(what the profile is called after, its default_url)."""
        return "JupyterLab", "/lab"


def readers() -> list[Reader]:
    from .code_server import CodeServerReader
    from .r import RReader

    return [CodeServerReader(), RReader()]


def detect(processes: list[Process], argv: list[str], workdir: str) -> tuple[Reader | None, object]:
    """The first reader whose app runs in the container, else whose app the image's command starts."""
    for reader in readers():
        app = reader.find(processes)
        if app is not None:
            return reader, app
    for reader in readers():
        app = reader.from_command(argv, workdir)
        if app is not None:
            return reader, app
    return None, None


def detect_installed(findings: Findings, source: str) -> Reader:
    """Nothing ran or was configured to run: the first reader whose app the probe found installed."""
    for reader in readers():
        if reader.installed(findings):
            return reader
    kinds = " nor ".join(reader.kind for reader in readers())
    raise LabstackError(f"{source} has neither {kinds} on the PATH of user {findings.user}: "
                        f"nothing labstack can migrate")
