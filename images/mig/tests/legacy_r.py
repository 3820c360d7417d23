"""R containers laid out like the two images R users run (tests/fixtures/legacy-r), started with work
and secrets made at run time, and a CRAN-like repository on loopback for the migration to install from.

rocker: root under an init, user rstudio (uid 1000), R in /usr/local/lib/R, the home on a named volume.
rbase: Debian's R run by docker (uid 1000), the work folder bind-mounted from the host, Shiny Server.
Each secret carries a marker that must be in no layer of the migrated image, nor in its config.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from labstack import REPO_ROOT
from labstack.settings import BuildSettings
from tracked import TestContainer, session_label
from labstack.engine import BuildRequest, build, client
from jupyter_container import poll_until
from legacy import RunningSource, marker

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "legacy-r"
SITE_HELLO = "hello from the site library"
USER_HELLO = "hello from the user library"


def build_r_image(tag: str, base_ref: str, settings: BuildSettings, target: str, rstudio_deb: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="labstack-legacy-r-") as tmp:
        context = Path(tmp)
        shutil.copytree(FIXTURE, context, dirs_exist_ok=True)
        (context / "stage").mkdir(exist_ok=True)
        if rstudio_deb:
            shutil.copy(rstudio_deb, context / "stage" / Path(rstudio_deb).name)
        build(BuildRequest(dockerfile=context / "Dockerfile", context=context, tags=[tag], target=target,
                           build_args={"BASE_IMAGE": base_ref}, ca_bundle=settings.ca_bundle,
                           network=settings.network), lambda line: None)
    return tag


@dataclass
class RLayout:
    name: str
    user: str
    uid: int
    home: str
    r_home: str
    project: str  # the folder with the .Rproj
    user_library: str
    mount: str  # where the work is mounted: the home (volume) or the work folder (bind)
    secret_files: dict[str, str] = field(default_factory=dict)  # path -> content with a marker
    renviron: dict[str, str] = field(default_factory=dict)  # file -> content, secret lines and kept ones
    env: dict[str, str] = field(default_factory=dict)  # secret variables -> marker
    kept_env: dict[str, str] = field(default_factory=dict)

    def markers(self) -> list[str]:
        planted = " ".join([*self.env.values(), *self.secret_files.values(), *self.renviron.values()])
        return re.findall(r"LABSTACKSECRET-[a-z]+-[0-9a-f]{12}", planted)


def _library(home: str) -> str:
    return f"{home}/R/x86_64-pc-linux-gnu-library/4.5"  # R_LIBS_USER's default, for R 4.5


def rocker_layout() -> RLayout:
    home = "/home/rstudio"
    layout = RLayout(name="rocker", user="rstudio", uid=1000, home=home, r_home="/usr/local/lib/R",
                     project=f"{home}/analysis", user_library=_library(home), mount=home)
    layout.secret_files = {
        f"{home}/.Rhistory": f"Sys.setenv(GITHUB_PAT = '{marker('rhistory')}')\n",
        f"{home}/.radian_history": f"# time\n+db_connect(password = '{marker('radian')}')\n",
        f"{home}/.ssh/id_ed25519": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{marker('ssh')}\n-----END OPENSSH PRIVATE KEY-----\n",
        f"{home}/.aws/credentials": f"[default]\naws_secret_access_key = {marker('aws')} \n",
        "/var/lib/rstudio-server/secure-cookie-key": f"{marker('cookie')}\n",
    }
    layout.renviron = {
        f"{home}/.Renviron": f"GITHUB_PAT={marker('pat')}\nMY_SETTING=kept-from-renviron\n",
        "/usr/local/lib/R/etc/Renviron.site": f"DB_PASSWORD={marker('site')}\nSITE_SETTING=kept-from-site\n",
    }
    layout.env = {"PASSWORD": marker("envpassword"), "GITHUB_PAT": marker("envpat")}
    layout.kept_env = {"PROJECT_NOTE": "a note for R"}
    return layout


def rbase_layout() -> RLayout:
    home = "/home/docker"
    layout = RLayout(name="rbase", user="docker", uid=1000, home=home, r_home="/usr/lib/R",
                     project=f"{home}/work/survey", user_library=_library(home), mount=f"{home}/work")
    layout.secret_files = {f"{home}/.Rhistory": f"token <- '{marker('rhistory')}'\n",
                           f"{home}/work/survey/.Rhistory": f"key <- '{marker('projecthistory')}'\n"}
    layout.renviron = {f"{home}/.Renviron": f"OPENAI_API_KEY={marker('apikey')}\nMY_SETTING=kept-from-renviron\n"}
    layout.env = {"DB_PASSWORD": marker("envpassword")}
    layout.kept_env = {"PROJECT_NOTE": "a note for R"}
    return layout


LAYOUTS = {"rocker": rocker_layout, "rbase": rbase_layout}


class RContainer(RunningSource):
    """A running R container of one layout, its work and secrets planted."""

    def _start(self) -> None:
        layout = self.layout
        name = f"labstack-legacy-r-{layout.name}-{uuid.uuid4().hex[:8]}"
        if layout.name == "rocker":
            self.volume = client().volumes.create(f"labstack-legacy-rhome-{uuid.uuid4().hex[:8]}",
                                                  labels=session_label())
            volumes = {self.volume.name: {"bind": layout.mount, "mode": "rw"}}
        else:
            self.host_dir = tempfile.mkdtemp(prefix="labstack-legacy-rwork-")
            os.chown(self.host_dir, layout.uid, layout.uid)
            volumes = {self.host_dir: {"bind": layout.mount, "mode": "rw"}}
        self.tracked = TestContainer(self.image, network_mode="none", name=name, volumes=volumes,
                                        environment=dict(layout.env, **layout.kept_env))
        self.tracked.run_detached()
        poll_until(lambda: "/bin/exec/R" in self.tracked.exec(["ps", "-eo", "args="], user="root", check=False)
                   or "rserver" in self.tracked.exec(["ps", "-eo", "args="], user="root", check=False),
                   60, 1, lambda: f"the R container did not start R:\n{self.tracked.logs()[-2000:]}")
        self._plant()

    def as_user(self, script: str, *args: str, timeout: float = 120) -> str:
        return self.tracked.exec(["env", f"HOME={self.layout.home}", "sh", "-c", script, "sh", *args],
                                 user=f"{self.layout.uid}:{self.layout.uid}", timeout=timeout)

    def _plant(self) -> None:
        layout = self.layout
        write = 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"'
        for path, content in {**layout.secret_files, **layout.renviron}.items():
            if path.startswith(layout.home):
                self.as_user(write, path, content)
            else:  # rserver's key and Renviron.site: root's
                self.tracked.exec(["sh", "-c", write, "sh", path, content], user="root")
        # the project: an .Rproj, a script and its data, as the user made them
        self.as_user(write, f"{layout.project}/{Path(layout.project).name}.Rproj", "Version: 1.0\nRestoreWorkspace: No\n")
        self.as_user(write, f"{layout.project}/data.csv", "x,y\n1,2\n3,4\n")
        self.as_user(write, f"{layout.project}/analysis.R", "d <- read.csv('data.csv')\nsum(d$y)\n")
        if layout.name == "rocker":  # RStudio's own state
            self.as_user(write, f"{layout.home}/.config/rstudio/rstudio-prefs.json", '{"font_size_points": 15}\n')
            self.as_user(write, f"{layout.home}/.local/share/rstudio/monitored/user-settings/note", "state\n")
        # a package in the user library, installed at run time (R_LIBS_USER, made first, as R wants)
        self.as_user(f'mkdir -p {layout.user_library} && R CMD INSTALL --library={layout.user_library} '
                     f'/opt/fixture/labstackuser >/dev/null 2>&1 && echo installed', timeout=180)



def irkernel_repository(rstudio_image: str, folder: Path) -> Path:
    """A CRAN-like repository of IRkernel and what it needs, as R binary packages made from the
    rstudio image's Debian packages (Debian's R 4.5, the R the rocker fixture carries; the way Posit
    Package Manager serves binaries under source URLs). CRAN itself is out of reach here."""
    contrib = folder / "src" / "contrib"
    contrib.mkdir(parents=True)
    script = r"""
ip <- installed.packages()
base <- rownames(ip)[ip[, "Priority"] %in% c("base", "recommended")]
needed <- tools::package_dependencies("IRkernel", db = ip, recursive = TRUE,
                                      which = c("Depends", "Imports", "LinkingTo"))[[1]]
for (p in c("IRkernel", setdiff(needed, base)))
    stopifnot(system2("tar", c("czf", sprintf("/out/%s_%s.tar.gz", p, ip[p, "Version"]), "-C", ip[p, "LibPath"], p)) == 0)
tools::write_PACKAGES("/out", type = "source")
"""
    with TestContainer(rstudio_image, entrypoint=["Rscript", "-e", script], command=[], network_mode="none",
                          user="0", volumes={str(contrib): {"bind": "/out", "mode": "rw"}}) as helper:
        container = helper.run_detached()
        status = container.wait(timeout=180)["StatusCode"]
        assert status == 0, container.logs().decode(errors="replace")[-2000:]
    return folder


class Repository:
    """A folder served on 127.0.0.1 (the migration's build steps run on the host's network)."""

    def __init__(self, folder: Path):
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Repository":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
