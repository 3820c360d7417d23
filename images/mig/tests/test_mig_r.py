"""`build.py migrate` on R containers: a running rocker-style or r-base-style container becomes a Jupyter
image with the container's own R, its libraries and the user's work, and none of the user's secrets.

Fixtures (images/mig/tests/legacy_r.py): rocker (R in /usr/local/lib/R, root under an init, the home on a
named volume; IRkernel from a CRAN-like repository on loopback, as a mirror would serve it) and rbase
(Debian's R run by a non-root user, the work bind-mounted, Shiny Server; IRkernel from Debian).
RStudio Server cannot be had here: with LABSTACK_RSTUDIO_DEB=FILE the rocker fixture runs the real
rserver and the RStudio probe runs; without it, that probe alone skips and says so.
"""
import json
import os
import uuid

import pytest
import yaml

from image_tests import GRAPH
from labstack import REPO_ROOT
from jupyter_container import JupyterContainer, poll_until
from labstack.containers import remove_stray_containers
from tracked import TestContainer, session_filter
from labstack.engine import remove_image
from layers_scan import find_in_image
from legacy_r import LAYOUTS, SITE_HELLO, USER_HELLO, RContainer, Repository, build_r_image, irkernel_repository
from probes import (assert_refused, assert_refused_migration, build_py, execute_in_kernel, process_uids,
                    servers_info_names, uncompiled_server_modules)

RSTUDIO_DEB = os.environ.get("LABSTACK_RSTUDIO_DEB") or None
NO_RSERVER = ("no rserver binary in the rocker fixture: RStudio Server's .deb is out of reach here "
              "(LABSTACK_RSTUDIO_DEB=FILE builds the fixture with it and runs this probe)")
LAB_MARKER = next(app.marker for app in GRAPH.apps() if app.default_url == "/lab")


FIGURES = REPO_ROOT / "reports" / "migration-r.json"  # the last run's migration of each fixture


def record(name: str, line: str) -> None:
    figures = json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}
    figures[name] = line
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


@pytest.fixture(scope="module")
def r_images(base_ref, engine, settings):
    tags = {name: build_r_image(f"labstack-test/legacy-r-{name}:smoke", base_ref, settings, name,
                                RSTUDIO_DEB if name == "rocker" else None) for name in LAYOUTS}
    yield tags
    for tag in tags.values():
        remove_image(tag)


@pytest.fixture(scope="module")
def cran(image, tmp_path_factory):
    """The in-house mirror the rocker container's R installs IRkernel from (CRAN is out of reach here)."""
    with Repository(irkernel_repository(image("rstudio"), tmp_path_factory.mktemp("cran"))) as repository:
        yield repository


@pytest.fixture(scope="module", params=list(LAYOUTS))
def legacy(request, r_images):
    with RContainer(r_images[request.param], LAYOUTS[request.param]()) as container:
        yield container


@pytest.fixture(scope="module")
def migration(legacy, cran, engine):
    layout = legacy.layout
    sudo_before = legacy.tracked.container.exec_run(["sudo", "-n", "true"], user=str(layout.uid)).exit_code
    target = f"labstack-test/migrated-r-{layout.name}:{uuid.uuid4().hex[:8]}"
    # rocker's R is not Debian's: IRkernel comes from the mirror; r-base's is Debian's, whose package serves
    mirror = ["--cran-url", cran.url] if layout.name == "rocker" else []
    result = build_py("migrate", "--container", legacy.container_name, "--image", target,
                      "--hub-user", "alice", *mirror)
    assert result.returncode == 0, result.stderr[-3000:]
    record(layout.name, next(line for line in result.stderr.splitlines() if line.startswith("labstack: migrated ")))
    yield {"image": target, "stderr": result.stderr, "sudo_before": sudo_before}
    remove_image(target)


@pytest.fixture(scope="module")
def jupyter(migration):
    with JupyterContainer(migration["image"]) as jupyter:
        yield jupyter


def has_rserver(legacy) -> bool:
    return legacy.layout.name == "rocker" and RSTUDIO_DEB is not None


def test_migrate_reports_what_it_found(legacy, migration, cran):
    layout, report = legacy.layout, migration["stderr"]
    expected = [f"labstack: found R in container {legacy.container_name}", f"{layout.user} (uid {layout.uid}",
                f"home:         {layout.home}", f"R:            {layout.r_home} (R 4.5.0",
                f"mount copied: {layout.mount} (", "(history)", "secret line(s) removed",
                *[f"environment variable {name}" for name in layout.env], "labstack: R kernel: "]
    if layout.name == "rocker":
        expected += ["(RStudio Server key)", "(ssh private key)", f"labstack: R kernel: IRkernel from {cran.url}, "
                     f"installed with the container's own R into {layout.r_home}/site-library"]
    else:
        expected += ["Debian's r-base-core", "Shiny Server: /usr/bin/shiny-server", "Debian's r-cran-irkernel"]
    for line in expected:
        # the head: what migrate found comes first, the profiles it prints (long) last
        assert line in report, f"{line!r} not in:\n{report[:6000]}"


def test_an_r_notebook_attaches_both_packages_and_reads_the_project(legacy, jupyter):
    layout = legacy.layout
    code = (f'library(labstacksite); library(labstackuser); setwd("{layout.project}")\n'
            f'paste(labstacksite::hello(), labstackuser::hello(), sum(read.csv("data.csv")$y), '
            f'length(Sys.glob("*.Rproj")), sep = "|")')
    assert execute_in_kernel(jupyter, "ir", code, timeout=120) == f'[1] "{SITE_HELLO}|{USER_HELLO}|6|1"'


def test_r_is_the_containers_own(legacy, jupyter):
    assert execute_in_kernel(jupyter, "ir", "R.home()") == f'[1] "{legacy.layout.r_home}"'
    assert f'"{legacy.layout.r_home}/bin/R"' in jupyter.exec(["cat", "/opt/jupyter/share/jupyter/kernels/ir/kernel.json"])


def test_what_the_server_imports_is_compiled_in_the_image(jupyter):
    """As in base: the container's user cannot write /opt/jupyter, so bytecode is made at build time."""
    count, missing = uncompiled_server_modules(jupyter)
    assert count > 300 and missing == [], (count, missing[:20])


def test_the_users_files_are_theirs(legacy, jupyter):
    layout = legacy.layout
    assert jupyter.exec(["id", "-un"]).strip() == layout.user
    assert process_uids(jupyter, "jupyter-lab") == {layout.uid}
    owners = jupyter.exec(["sh", "-c", f"find {layout.home} {layout.mount} ! -user {layout.uid} | head -n 5"], user="root")
    assert owners.strip() == "", f"files of the user's that they do not own:\n{owners}"
    if layout.name == "rocker":  # RStudio's own state came along
        assert "15" in jupyter.exec(["cat", f"{layout.home}/.config/rstudio/rstudio-prefs.json"])


def test_no_secret_is_in_any_layer_or_the_config(legacy, migration, jupyter):
    layout = legacy.layout
    dropped = [path for path in layout.secret_files]
    found = find_in_image(migration["image"], layout.markers(), dropped)
    assert found == [], "\n".join(found[:20])
    for path, content in layout.renviron.items():  # the rest of each environment file stays
        kept = [line for line in content.splitlines() if "LABSTACKSECRET-" not in line]
        assert jupyter.exec(["cat", path], user="root").splitlines() == kept, path


def test_no_way_to_root(legacy, migration, jupyter):
    if legacy.layout.name == "rocker":
        assert migration["sudo_before"] == 0, "the rocker fixture gives its user passwordless sudo, as ROOT=true does"
    assert jupyter.tracked.container.exec_run(["sudo", "-n", "true"], user=str(legacy.layout.uid)).exit_code != 0


def test_launcher_cards_are_the_apps_the_container_had(legacy, jupyter):
    names = servers_info_names(jupyter)
    assert ("rstudio" in names) == has_rserver(legacy), names
    assert ("shiny" in names) == (legacy.layout.name == "rbase"), names


def test_shiny_serves_the_containers_site_behind_the_token(legacy, jupyter):
    if legacy.layout.name != "rbase":
        pytest.skip("the rocker fixture has no Shiny Server (rocker/rstudio does not either)")
    page = jupyter.wait_for("/shiny/", timeout=180)
    assert "survey dashboard" in page.text  # the container's own app, run by its R
    assert_refused(jupyter, "/shiny/")


def test_rstudio_opens_the_users_own_rserver(legacy, jupyter):
    if not has_rserver(legacy):
        pytest.skip(NO_RSERVER if legacy.layout.name == "rocker" else "the r-base fixture has no RStudio Server")
    response = jupyter.wait_for("/rstudio/", timeout=180)
    assert "RStudio" in response.text
    assert_refused(jupyter, "/rstudio/")
    assert process_uids(jupyter, "rserver") == {legacy.layout.uid}
    assert "www-address=127.0.0.1" in jupyter.exec(["cat", "/etc/rstudio/rserver.conf"])


def printed_values(stderr: str) -> dict:
    """The Zero-to-JupyterHub values the migration printed last."""
    return yaml.safe_load(stderr[stderr.rindex("\nhub:\n") + 1:])


def owner_profile(stderr: str, user: str) -> list:
    """The profiles the printed hub.extraConfig offers `user`, by running the snippet as the hub would."""
    from types import SimpleNamespace

    c = SimpleNamespace(KubeSpawner=SimpleNamespace(profile_list=[]))
    exec(printed_values(stderr)["hub"]["extraConfig"]["labstack-owner-only"], {"c": c})
    return c.KubeSpawner.profile_list(SimpleNamespace(user=SimpleNamespace(name=user)))


def test_the_printed_profile_is_its_owners_only_and_lands_where_the_app_is(legacy, migration):
    (profile,) = owner_profile(migration["stderr"], "alice")
    assert owner_profile(migration["stderr"], "bob") == []
    override = profile["kubespawner_override"]
    assert override["image"] == migration["image"]
    assert (override["uid"], override["gid"], override["environment"]) == (
        legacy.layout.uid, legacy.layout.uid, {"HOME": legacy.layout.home})
    assert override["default_url"] == ("/rstudio/" if has_rserver(legacy) else "/lab")
    assert override["volumes"] == [] and override["volume_mounts"] == []


SPAWNER_CONFIG = """
import sys
sys.path.insert(0, {tests!r})
from podsim import DockerPodSpawner, Z2JH_DEFAULTS

c.JupyterHub.spawner_class = DockerPodSpawner
for _name, _value in Z2JH_DEFAULTS.items():
    setattr(c.KubeSpawner, _name, _value)
c.KubeSpawner.profile_list = []
c.KubeSpawner.events_enabled = False
c.KubeSpawner.http_timeout = 180
"""


def test_the_image_runs_under_the_printed_profile_in_the_pod_simulation(legacy, migration, engine, tmp_path):
    """The hub.extraConfig as printed, in a real hub whose spawner is KubeSpawner (tests/support/podsim.py):
    alice spawns the migrated profile through the form; her pod runs as the image's user with the work
    in the image's home, lands where the profile says, and bob is refused."""
    from podsim import POD_PREFIX, pod_container_name, remove_claims
    from realhub import api, login, running_hub, server_url, wait_until_ready

    snippet = printed_values(migration["stderr"])["hub"]["extraConfig"]["labstack-owner-only"]
    config = SPAWNER_CONFIG.format(tests=str(REPO_ROOT / "tests" / "support")) + snippet
    layout = legacy.layout
    try:
        with running_hub(engine, tmp_path, config) as hub:
            for name in ("alice", "bob"):
                assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
            alice, bob = login(hub, "alice"), login(hub, "bob")
            xsrf = next(c.value for c in alice.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
            response = alice.post(f"{hub['public_url']}/hub/spawn", data={"profile": "migrated", "_xsrf": xsrf},
                                  timeout=60, allow_redirects=False)
            assert response.status_code == 302, (response.status_code, response.text[:500], hub["log"].read_text()[-3000:])
            wait_until_ready(hub, "alice", timeout=300)
            container = engine.containers.get(pod_container_name("jupyter-alice"))
            assert container.attrs["Config"]["User"] == f"{layout.uid}:{layout.uid}"
            env = dict(entry.split("=", 1) for entry in container.attrs["Config"]["Env"])
            assert env["HOME"] == layout.home and not container.attrs["Mounts"]  # the work is the image's
            landing = "/rstudio/" if has_rserver(legacy) else "/lab"
            marker = "RStudio" if has_rserver(legacy) else LAB_MARKER
            url = f"{server_url(hub, 'alice')}{landing}"
            page = poll_until(lambda: (r := alice.get(url, timeout=60)).status_code == 200 and r, 120, 2,
                              lambda: f"{url} never answered alice:\n{hub['log'].read_text()[-2000:]}")
            assert marker in page.text
            refused = bob.get(url, timeout=60)
            assert refused.status_code == 403 and marker not in refused.text
            listed = alice.get(f"{server_url(hub, 'alice')}/api/contents/{layout.project.removeprefix(layout.home + '/')}",
                               timeout=60).json()
            assert "data.csv" in {item["name"] for item in listed["content"]}
    finally:
        remove_stray_containers(session_filter(), prefix=POD_PREFIX)
        remove_claims()


# ---- what the migration of an R container refuses: one line, exit 2, nothing tagged

def test_a_stopped_r_container_is_refused(r_images, engine):
    tracked = TestContainer(r_images["rbase"], network_mode="none", name=f"labstack-r-stopped-{uuid.uuid4().hex[:8]}")
    with tracked:
        tracked.run_detached()
        tracked.container.stop(timeout=1)
        assert_refused_migration(engine, ["--container", tracked.name], "is exited, not running")


def test_an_r_container_run_as_root_with_no_user_named_is_refused(r_images, engine):
    # r-base's own default: R as root; nothing says whose the work is
    with TestContainer(r_images["rbase"], network_mode="none", user="0",
                          name=f"labstack-r-root-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        assert_refused_migration(engine, ["--container", tracked.name], "runs as root: pass --user")
