"""R containers (rocker/rstudio-style, r-base-style): the R they use, its libraries, the user, RStudio.

rocker/rstudio runs as root under an init (s6) that starts `rserver`; the work belongs to the user
`rstudio` (uid 1000, DEFAULT_USER) and its sessions run as them. r-base-style containers run R itself,
often as a non-root user. What is read: the R the user runs (`R RHOME`, `.libPaths()` as the user,
read in the running container, so libraries on mounts count), rserver's flags and /etc/rstudio where
present, Shiny Server where present.
"""
from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from ... import LabstackError
from ..workstate import Process
from . import Reader

RSERVER = "/usr/lib/rstudio-server/bin/rserver"  # where Posit's .deb puts it
SESSION_PROGRAMS = {"rsession", "R"}

# Run as the user. R's own answers, and the distribution's package owning it, if any.
PROBE = r"""
r=$(command -v R || true)
echo "r=$r"
if [ -n "$r" ]; then
    home=$(R RHOME 2>/dev/null)
    echo "r_home=$home"
    Rscript -e 'cat(paste0("r_lib=", .libPaths()), paste0("r_version=", getRversion()),
                    paste0("r_irkernel=", nzchar(system.file(package = "IRkernel"))), sep = "\n")' 2>/dev/null
    echo "r_package=$(dpkg -S "$home/bin/R" 2>/dev/null | cut -d: -f1 | head -n 1)"
fi
rserver=$(command -v rserver || true)
[ -z "$rserver" ] && [ -x /usr/lib/rstudio-server/bin/rserver ] && rserver=/usr/lib/rstudio-server/bin/rserver
echo "rserver=$rserver"
if [ -n "$rserver" ]; then
    echo "rserver_version=$("$(dirname "$rserver")/rstudio-server" version 2>/dev/null | head -n 1)"
fi
echo "shiny_server=$(command -v shiny-server || true)"
"""
LIBRARIES = "cat(.libPaths(), sep = '\\n')"


@dataclass
class RApp:
    session: Process | None = None  # R or rsession, as the user
    rserver: Process | None = None


@dataclass
class RState:
    home: str
    r_home: str
    libraries: list[str]
    rserver_flags: list[str] = field(default_factory=list)
    has_rserver: bool = False

    def all(self) -> list[str]:
        return [path for path in (self.home, self.r_home, *self.libraries,
                                  "/etc/rstudio" if self.has_rserver else "") if path]

    def report(self) -> list[str]:
        return [f"  libraries:    {', '.join(self.libraries) or '(none found)'}"]


def is_session(process: Process) -> bool:
    return process.program in SESSION_PROGRAMS or process.argv[0].endswith("/bin/exec/R")


class RReader(Reader):
    kind = "R"
    stage = "r"
    probe = PROBE

    def find(self, processes):
        rserver = next((p for p in processes if p.program == "rserver"), None)
        sessions = sorted((p for p in processes if is_session(p)), key=lambda p: (p.uid == 0, p.pid))
        if rserver is None and not sessions:
            return None
        return RApp(session=sessions[0] if sessions else None, rserver=rserver)

    def from_command(self, argv, workdir):
        programs = {posixpath.basename(arg) for arg in argv}
        return RApp() if programs & {"R", "Rscript", "rserver", "rsession", "radian"} else None

    def installed(self, findings):
        return bool(findings.one("r"))

    def process(self, app):
        return app.session if app else None

    def owner(self, app, env):
        if app and app.session and app.session.uid != 0:
            return f"{app.session.uid}:{app.session.gid}"
        # rocker's images name the account rserver's sessions run as
        for name in ("DEFAULT_USER", "USER"):
            if env.get(name) and env[name] != "root":
                return env[name]
        return None

    def state(self, app, identity, env, container):
        libraries = identity.values.get("r_lib", [])
        if container is not None and container.status == "running":
            # as the user in the running container: libraries on mounts are there, not in the commit
            result = container.exec_run(["Rscript", "-e", LIBRARIES], user=f"{identity.uid}:{identity.gid}",
                                        environment={"HOME": identity.home})
            if result.exit_code == 0:
                libraries = [line for line in result.output.decode(errors="replace").splitlines() if line.startswith("/")]
        for name in ("R_LIBS_USER", "R_LIBS"):  # folders R leaves off .libPaths() until they exist
            for path in env.get(name, "").split(":"):
                path = path.replace("~", identity.home, 1) if path.startswith("~") else path
                if path.startswith("/") and path not in libraries:
                    libraries.append(path)
        flags = app.rserver.argv[1:] if app and app.rserver else []
        return RState(home=identity.home, r_home=identity.one("r_home"), libraries=libraries,
                      rserver_flags=flags, has_rserver=bool(identity.one("rserver")))

    def check(self, findings, source):
        if not findings.one("r_home"):
            raise LabstackError(f"{source} has no working R on the PATH of user {findings.user} (R RHOME answered nothing)")

    def report(self, findings, state):
        rserver = findings.one("rserver")
        flags = f"; flags {shlex.join(state.rserver_flags)}" if state.rserver_flags else ""
        from_package = f", Debian's {findings.one('r_package')}" if findings.one("r_package") else ""
        irkernel = "the container's own" if findings.one("r_irkernel") == "TRUE" else "to be added"
        return [
            f"  R:            {findings.one('r_home')} (R {findings.one('r_version', 'version unknown')}{from_package})",
            f"  IRkernel:     {irkernel}",
            "  RStudio:      " + (f"{rserver} ({findings.one('rserver_version') or 'version unknown'}{flags})"
                                   if rserver else "none (no rserver in the container): JupyterLab only"),
            f"  Shiny Server: {findings.one('shiny_server') or 'none'}",
        ]

    def build_args(self, findings, state, options):
        from ...pins import pinned

        r_home = findings.one("r_home")
        return {
            "R_HOME_DIR": r_home, "R_PROGRAM": f"{r_home}/bin/R",
            "R_FROM_DISTRIBUTION": "1" if findings.one("r_package") else "",
            "CRAN_URL": options["cran_url"],
            "RSERVER": findings.one("rserver"), "SHINY_SERVER": findings.one("shiny_server"),
            "JUPYTER_RSESSION_PROXY_VERSION": pinned("rstudio")["JUPYTER_RSESSION_PROXY_VERSION"],
        }

    def landing(self, findings, state):
        return ("RStudio", "/rstudio/") if findings.one("rserver") else ("JupyterLab", "/lab")
