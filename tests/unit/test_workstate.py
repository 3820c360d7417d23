"""Where a container keeps its work: its app's process and flags (code-server, R) and the mounts that hold them."""
import pytest

from labstack import LabstackError
from labstack.migration.migrate import parse_size
from labstack.migration.readers import Findings, detect, detect_installed
from labstack.migration.readers.code_server import code_server_version, from_command, pick, state_paths
from labstack.migration.readers.r import RReader
from labstack.migration.workstate import parse_processes as process_table
from labstack.migration.workstate import plan_mounts


def parse_processes(output):
    return pick(process_table(output))

ENTRY = "/usr/lib/code-server/out/node/entry.js"


def line(pid, uid, cwd, home, *args):
    return "\t".join([str(pid), str(uid), str(uid), cwd, home, "\x1f".join(args) + "\x1f"])


def test_the_process_running_as_the_user_wins_over_a_root_launcher():
    output = "\n".join([
        line(1, 0, "/", "/root", "runuser", "-u", "abc", "--", "/app/code-server/bin/code-server", "--auth", "password"),
        line(7, 911, "/config", "/config", "/app/code-server/lib/node", "/app/code-server/out/node/entry.js",
             "--bind-addr", "0.0.0.0:8443", "--user-data-dir", "/config/data", "--extensions-dir=/config/extensions",
             "--disable-telemetry", "--auth", "password", "/config/workspace"),
        line(9, 911, "/config", "/config", "sleep", "100"),
        "garbage line",
    ])
    process = parse_processes(output)
    assert (process.uid, process.home, process.install_bin()) == (911, "/config", "/app/code-server/bin")
    paths = state_paths(process, "/ignored", {})
    assert (paths.home, paths.user_data_dir, paths.extensions_dir, paths.config, paths.workspace) == (
        "/config", "/config/data", "/config/extensions", "/config/.config/code-server/config.yaml", "/config/workspace")


def test_defaults_follow_code_server_and_a_relative_folder_its_cwd():
    process = parse_processes(line(12, 1000, "/home/coder", "/home/coder", "/bin/sh", "/usr/bin/code-server",
                                   "--bind-addr", "0.0.0.0:8080", "."))
    assert process.install_bin() == "/usr/bin"
    paths = state_paths(process, "/home/coder", {"XDG_CONFIG_HOME": "/xdg"})
    assert paths.user_data_dir == "/home/coder/.local/share/code-server"
    assert paths.extensions_dir == "/home/coder/.local/share/code-server/extensions"
    assert paths.config == "/xdg/code-server/config.yaml"
    assert paths.workspace == "/home/coder"
    assert parse_processes(line(3, 0, "/", "/", "sleep", "9")) is None


def test_switches_are_not_taken_for_the_folder():
    process = from_command(["code-server", "--disable-telemetry", "--user-data-dir", "/d", "--verbose"])
    assert process.folder() is None
    assert from_command(["/usr/bin/node", ENTRY, "--auth=none", "/w"]).folder() == "/w"


MOUNTS = [{"Destination": d, "Type": t} for d, t in [
    ("/home/coder/.local", "bind"), ("/home/coder/.config", "bind"), ("/home/coder/project", "bind"),
    ("/home/coder/project/data", "volume"), ("/var/run/docker.sock", "bind"), ("/cache", "volume")]]


def test_mounts_that_hold_state_are_copied_once_and_others_left_out():
    process = from_command(["code-server", "."])
    process.cwd = "/home/coder"
    paths = state_paths(process, "/home/coder", {"HOME": "/home/coder"})
    plan = plan_mounts(MOUNTS, paths, skip=["/home/coder/.config"])
    assert [m["Destination"] for m in plan.copy] == ["/home/coder/.local", "/home/coder/project"]
    assert plan.skipped == ["/home/coder/.config"]
    assert plan.unrelated == ["/cache", "/var/run/docker.sock"]


def test_a_mount_above_the_state_holds_it():
    paths = state_paths(from_command(["code-server", "--user-data-dir", "/srv/vscode/data"]), "/home/u", {})
    plan = plan_mounts([{"Destination": "/srv", "Type": "volume"}], paths, skip=[])
    assert [m["Destination"] for m in plan.copy] == ["/srv"]


def test_state_in_a_tmpfs_or_a_wrong_skip_stops_the_migration():
    paths = state_paths(from_command(["code-server"]), "/home/coder", {})
    with pytest.raises(LabstackError, match="tmpfs.*--skip-mount /home/coder/tmp"):
        plan_mounts([{"Destination": "/home/coder/tmp", "Type": "tmpfs"}], paths, skip=[])
    with pytest.raises(LabstackError, match="--skip-mount /nowhere: the container has no mount there"):
        plan_mounts(MOUNTS, paths, skip=["/nowhere"])


def test_version_ignores_log_lines():
    output = ["[2026-11-22T03:00:00.000Z] info  Wrote default config file to /config/.config/code-server/config.yaml",
              "4.139.1 0f1e2d3c4b5a6978 with Code 1.106.0"]
    assert code_server_version(output) == "4.139.1 0f1e2d3c4b5a6978 with Code 1.106.0"
    assert code_server_version(["[info] 1.2.3 starting"]) == ""


def test_sizes():
    assert parse_size("4G") == 4_000_000_000
    assert parse_size("500m") == 500_000_000
    assert parse_size("100K") == 100_000
    with pytest.raises(LabstackError, match="expected a size"):
        parse_size("lots")


# ---- R containers

def findings(**values):
    return Findings("debian", "", "Debian", "rstudio", 1000, 1000, "/home/rstudio",
                    {key: value if isinstance(value, list) else [value] for key, value in values.items()})


def test_a_rocker_container_is_read_as_r_and_its_user_from_the_session_or_default_user():
    table = "\n".join([
        line(1, 0, "/", "/root", "/bin/sh", "/init"),
        line(20, 0, "/", "/root", "/usr/lib/rstudio-server/bin/rserver", "--server-daemonize=0", "--www-port=8787"),
    ])
    reader, app = detect(process_table(table), ["/init"], "/")
    assert reader.kind == "R" and app.rserver.pid == 20 and app.session is None
    assert reader.owner(app, {"DEFAULT_USER": "rstudio", "USER": "root"}) == "rstudio"
    assert reader.owner(app, {"USER": "root"}) is None
    with_session = process_table(table + "\n" + line(31, 1000, "/home/rstudio", "/home/rstudio",
                                                       "/usr/local/lib/R/bin/exec/R", "--no-echo"))
    reader, app = detect(with_session, ["/init"], "/")
    assert reader.owner(app, {"DEFAULT_USER": "someone"}) == "1000:1000"
    state = reader.state(app, findings(r_home="/usr/local/lib/R", r_lib=["/usr/local/lib/R/site-library",
                                                                          "/usr/local/lib/R/library"]),
                         {"R_LIBS_USER": "~/R/lib"}, container=None)
    assert state.rserver_flags == ["--server-daemonize=0", "--www-port=8787"]
    assert state.libraries == ["/usr/local/lib/R/site-library", "/usr/local/lib/R/library", "/home/rstudio/R/lib"]
    plan = plan_mounts([{"Destination": "/home/rstudio", "Type": "volume"}, {"Destination": "/data", "Type": "bind"}],
                       state, skip=[])
    assert [m["Destination"] for m in plan.copy] == ["/home/rstudio"] and plan.unrelated == ["/data"]


def test_code_server_wins_and_an_image_command_tells_the_kind_when_nothing_runs():
    both = process_table("\n".join([line(5, 1000, "/", "/h", "/usr/bin/R"),
                                     line(6, 1000, "/", "/h", "/usr/bin/code-server", ".")]))
    assert detect(both, [], "/")[0].kind == "code-server"
    assert detect([], ["R", "--no-save"], "/")[0].kind == "R"
    assert detect([], ["sleep", "600"], "/") == (None, None)


def test_what_is_installed_decides_last_and_neither_is_refused_in_one_line():
    assert detect_installed(findings(r="/usr/bin/R", code_server=""), "x").kind == "R"
    with pytest.raises(LabstackError, match="^container c has neither code-server nor R on the PATH of user rstudio"):
        detect_installed(findings(r="", code_server=""), "container c")


def test_an_r_image_lands_on_rstudio_only_where_rserver_is():
    reader = RReader()
    assert reader.landing(findings(rserver="/usr/lib/rstudio-server/bin/rserver"), None) == ("RStudio", "/rstudio/")
    assert reader.landing(findings(rserver=""), None) == ("JupyterLab", "/lab")
    args = reader.build_args(findings(r_home="/usr/lib/R", r_package="r-base-core", rserver="", shiny_server=""),
                             None, {"cran_url": "https://cran.example.org"})
    assert (args["R_PROGRAM"], args["R_FROM_DISTRIBUTION"], args["CRAN_URL"]) == (
        "/usr/lib/R/bin/R", "1", "https://cran.example.org")
