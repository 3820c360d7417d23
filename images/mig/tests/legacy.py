"""Code-server containers laid out like the two images people run (tests/fixtures/legacy-code-server).

codercom: user coder (uid 1000); ~/.local, ~/.config and the project bind-mounted from host folders.
linuxserver: starts as root, code-server runs as abc (uid 911) with HOME=/config, --user-data-dir and
--extensions-dir in a named /config volume. Each is started with work made at run time (a changed
setting, an installed extension, a new file) and with secrets planted in the container's own layer,
in its mounts and in its environment, each secret carrying a marker that must be in no layer after
migration. Shared by the migration tests and the bench.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from labstack import REPO_ROOT
from labstack.settings import BuildSettings
from labstack.engine import BuildRequest, build, client
from tracked import TestContainer, session_label
from jupyter_container import poll_until
from vsix import make_vsix

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "legacy-code-server"
EXTENSION_ID = "legacy-test.probe"


def build_legacy_image(tag: str, base_ref: str, code_server_image: str, settings: BuildSettings,
                       target: str = "codercom") -> str:
    with tempfile.TemporaryDirectory(prefix="labstack-legacy-") as tmp:
        context = Path(tmp)
        shutil.copytree(FIXTURE, context, dirs_exist_ok=True)
        make_vsix(context / "legacy.vsix", "legacy-test", "probe")
        build(BuildRequest(dockerfile=context / "Dockerfile", context=context, tags=[tag], target=target,
                           build_args={"BASE_IMAGE": base_ref, "CODE_SERVER_IMAGE": code_server_image},
                           ca_bundle=settings.ca_bundle, network=settings.network), lambda line: None)
    return tag


def marker(kind: str) -> str:
    return f"LABSTACKSECRET-{kind}-{secrets.token_hex(6)}"


@dataclass
class Layout:
    """Where a layout keeps things, and the secrets planted in it (path or variable -> marker)."""
    name: str
    user: str
    uid: int
    home: str
    user_data_dir: str
    extensions_dir: str
    workspace: str
    config_yaml: str
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> secret content (with a marker)
    env: dict[str, str] = field(default_factory=dict)  # secret variables -> marker
    kept_env: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)

    @property
    def settings(self) -> str:
        return f"{self.user_data_dir}/User/settings.json"

    def dropped_paths(self) -> list[str]:
        """The planted files that must be gone (config.yaml stays, without its password lines)."""
        return [path for path in self.files if path != self.config_yaml]

    def markers(self) -> list[str]:
        found = list(self.env.values())
        for content in self.files.values():
            found += [word for word in content.split() if word.startswith("LABSTACKSECRET-")]
        return found


def _secret_files(home: str, config_yaml: str) -> dict[str, str]:
    return {
        f"{home}/.ssh/id_ed25519": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{marker('ssh')}\n-----END OPENSSH PRIVATE KEY-----\n",
        f"{home}/.git-credentials": f"https://alice:{marker('git')} @github.com\n",
        f"{home}/.netrc": f"machine example.org login alice password {marker('netrc')} \n",
        f"{home}/.docker/config.json": f'{{"auths": {{"r.example.org": {{"auth": " {marker("docker")} "}}}}}}\n',
        f"{home}/.aws/credentials": f"[default]\naws_secret_access_key = {marker('aws')} \n",
        f"{home}/.kube/config": f"users:\n- user:\n    token: {marker('kube')} \n",
        f"{home}/.bash_history": f"export GITHUB_TOKEN= {marker('history')} \n",
        f"{home}/.config/gcloud/credentials.db": f"refresh_token {marker('gcloud')} \n",
        config_yaml: f"bind-addr: 0.0.0.0:8080\nauth: password\npassword: {marker('cspassword')} \n"
                     f"hashed-password: {marker('cshash')} \ncert: false\n",
    }


CODERCOM = dict(name="codercom", user="coder", uid=1000, home="/home/coder",
                user_data_dir="/home/coder/.local/share/code-server",
                extensions_dir="/home/coder/.local/share/code-server/extensions", workspace="/home/coder",
                config_yaml="/home/coder/.config/code-server/config.yaml",
                mounts=["/home/coder/.local", "/home/coder/.config", "/home/coder/project"])
LINUXSERVER = dict(name="linuxserver", user="abc", uid=911, home="/config", user_data_dir="/config/data",
                   extensions_dir="/config/extensions", workspace="/config/workspace",
                   config_yaml="/config/.config/code-server/config.yaml", mounts=["/config"])


def new_layout(spec: dict) -> Layout:
    layout = Layout(**spec)
    layout.files = _secret_files(layout.home, layout.config_yaml)
    layout.files[f"{layout.workspace if layout.name == 'linuxserver' else layout.home + '/project'}/.git-credentials"] = \
        f"https://bob:{marker('projectgit')} @example.org\n"
    layout.env = {"PASSWORD": marker("envpassword"), "GITHUB_TOKEN": marker("envtoken"),
                  "AWS_SECRET_ACCESS_KEY": marker("envaws")}
    layout.kept_env = {"PROJECT_NOTE": 'a "quoted" note with $HOME and spaces'}
    return layout


class RunningSource:
    """A running container to migrate, started (by a subclass's _start) with its work and secrets
    planted; removes all it made: the container, a named volume, a host folder bound into it."""

    def __init__(self, image: str, layout):
        self.image, self.layout = image, layout
        self.tracked: TestContainer | None = None
        self.volume = None
        self.host_dir: str | None = None

    def _start(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def container_name(self) -> str:
        return self.tracked.name

    def __exit__(self, *exc_info) -> None:
        if self.tracked:
            self.tracked.remove()
        if self.volume is not None:
            self.volume.remove(force=True)
        if self.host_dir is not None:
            shutil.rmtree(self.host_dir, ignore_errors=True)  # files the container's user made


class LegacyContainer(RunningSource):
    """A running legacy code-server container of one layout, its work and secrets planted."""

    def _start(self) -> None:
        layout = self.layout
        env = dict(layout.env, **layout.kept_env)
        name = f"labstack-legacy-{layout.name}-{uuid.uuid4().hex[:8]}"
        if layout.name == "codercom":
            self.host_dir = tempfile.mkdtemp(prefix="labstack-legacy-binds-")
            volumes = {}
            for mount in layout.mounts:
                host = Path(self.host_dir) / Path(mount).name.lstrip(".")
                host.mkdir()
                os.chown(host, layout.uid, layout.uid)
                volumes[str(host)] = {"bind": mount, "mode": "rw"}
            project = Path(self.host_dir) / "project"
            shutil.copy(FIXTURE / "project" / "analysis.py", project / "analysis.py")
            os.chown(project / "analysis.py", layout.uid, layout.uid)
        else:
            self.volume = client().volumes.create(f"labstack-legacy-config-{uuid.uuid4().hex[:8]}",
                                                  labels=session_label())
            volumes = {self.volume.name: {"bind": "/config", "mode": "rw"}}
        self.tracked = TestContainer(self.image, network_mode="none", name=name, environment=env, volumes=volumes)
        self.tracked.run_detached()
        self._plant()
        self.settle()

    def _plant(self) -> None:
        layout = self.layout
        # as the user: the work (a setting, an extension, files) and the secrets
        settings = '{\n  "workbench.colorTheme": "Default Dark Modern",\n  "editor.fontSize": 17\n}\n'
        files = dict(layout.files)
        files[layout.settings] = settings
        files[f"{layout.workspace if layout.name == 'linuxserver' else layout.home + '/project'}/runtime.txt"] = \
            "written at run time\n"
        files[f"{layout.home}/.ssh/id_ed25519.pub"] = "ssh-ed25519 AAAAC3Nza public key, not a secret\n"
        files[f"{layout.home}/notes.txt"] = "notes kept in the home\n"
        if layout.name == "linuxserver":  # (codercom's comes from the host folder bind-mounted as the project)
            files[f"{layout.workspace}/analysis.py"] = (FIXTURE / "project" / "analysis.py").read_text()
        for path, content in files.items():
            self.exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', "plant", path, content])
        self.exec(["code-server", "--user-data-dir", layout.user_data_dir, "--extensions-dir", layout.extensions_dir,
                   "--install-extension", "/opt/legacy.vsix"], timeout=120)

    def exec(self, cmd: list[str], **kwargs) -> str:
        kwargs.setdefault("user", f"{self.layout.uid}:{self.layout.uid}")
        if self.layout.name == "linuxserver":
            cmd = ["env", "HOME=/config", *cmd]
        return self.tracked.exec(cmd, **kwargs)

    def settle(self, timeout: float = 90) -> None:
        """Wait until code-server has started (its log says it listens) and the container stops changing."""
        previous = [None]

        def settled():
            started = "HTTP server listening" in self.tracked.logs()
            current = self.snapshot()
            done = started and current == previous[0]
            previous[0] = current
            return done

        poll_until(settled, timeout, 2, lambda: f"legacy code-server did not settle in {timeout}s:\n"
                                                f"{self.tracked.logs()[-2000:]}")

    def snapshot(self) -> tuple:
        """What the container holds, to compare before and after a migration: its diff and its state's files."""
        diff = sorted((change["Path"], change["Kind"]) for change in (self.tracked.container.diff() or []))
        listing = self.tracked.exec(["sh", "-c", "find \"$@\" -type f ! -name '*.log' ! -name '*.sock' "
                                     "! -path '*/logs/*' -exec md5sum {} + | sort", "x", *self.layout.mounts,
                                     self.layout.home], user="root", check=False)
        return diff, listing
