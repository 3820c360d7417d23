"""`build.py migrate`: a running code-server container becomes a Jupyter image that keeps the user's work,
wherever it lives (the container's layer, bind mounts, a volume), and none of the user's secrets.

Both layouts people run are tested (images/mig/tests/legacy.py): codercom-style (binds for ~/.local,
~/.config and the project) and linuxserver-style (root dropping to abc, everything in a /config volume).
"""
import re
import uuid

import pytest

from labstack.engine import BuildRequest, build, remove_image
from tracked import TestContainer
from jupyter_container import JupyterContainer
from layers_scan import find_in_image
from legacy import CODERCOM, EXTENSION_ID, LINUXSERVER, LegacyContainer, build_legacy_image, marker, new_layout
from probes import (LOOPBACK_HEX, assert_refused, assert_refused_migration, build_py, listening_sockets,
                    process_uids, uncompiled_server_modules)

LAYOUTS = {"codercom": CODERCOM, "linuxserver": LINUXSERVER}


@pytest.fixture(scope="module")
def legacy_images(image, base_ref, engine, settings):
    """Both legacy-style images, from our Debian base and our code-server files."""
    tags = {name: build_legacy_image(f"labstack-test/legacy-{name}:smoke", base_ref, image("code-server"),
                                     settings, target=name) for name in LAYOUTS}
    yield tags
    for tag in tags.values():
        remove_image(tag)


@pytest.fixture(scope="module", params=list(LAYOUTS))
def legacy(request, legacy_images):
    """The legacy container of one layout, running, with work and secrets made at run time."""
    with LegacyContainer(legacy_images[request.param], new_layout(LAYOUTS[request.param])) as container:
        yield container


@pytest.fixture(scope="module")
def migration(legacy, engine):
    before = legacy.snapshot()
    sudo_before = legacy.tracked.container.exec_run(["sudo", "-n", "true"], user=str(legacy.layout.uid)).exit_code
    target = f"labstack-test/migrated-{legacy.layout.name}:{uuid.uuid4().hex[:8]}"
    result = build_py("migrate", "--container", legacy.container_name, "--image", target)
    assert result.returncode == 0, result.stderr[-3000:]
    yield {"image": target, "before": before, "stderr": result.stderr, "sudo_before": sudo_before}
    remove_image(target)


@pytest.fixture(scope="module")
def jupyter(migration):
    with JupyterContainer(migration["image"]) as jupyter:
        yield jupyter


def test_migrate_reports_what_it_found(legacy, migration):
    layout, report = legacy.layout, migration["stderr"]
    os_name = legacy.tracked.exec(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]).strip()  # our base's Debian
    expected = [os_name, f"{layout.user} (uid {layout.uid}", f"home:         {layout.home}",
                "code-server:  /usr/lib/code-server/bin/code-server (4.139.1 ",
                f"extensions:   1 in {layout.extensions_dir}", f"user data:    {layout.user_data_dir}",
                f"workspace:    {layout.workspace}"]
    expected += [f"mount copied: {mount} (" for mount in layout.mounts]
    expected += ["(ssh private key)", "(git credentials)", "environment variable PASSWORD",
                 "secret line(s) removed", "(setuid/setgid bit cleared)", f"'default_url': '/vscode/?folder={layout.workspace}'"]
    if layout.name == "linuxserver":
        expected.append("the image runs as root, but code-server's work belongs to 911:911: migrating as that user")
    for line in expected:
        # the head: what migrate found comes first, the profiles it prints (long) last
        assert line in report, f"{line!r} not in:\n{report[:6000]}"


def test_source_container_is_running_and_unchanged(legacy, migration):
    assert legacy.tracked.status() == "running"
    assert legacy.tracked.container.attrs["State"]["Paused"] is False
    assert legacy.snapshot() == migration["before"]


def test_vscode_serves_the_workbench_only_with_token(jupyter):
    response = jupyter.wait_for("/vscode/", timeout=120)
    assert "vscode-workbench-web-configuration" in response.text
    assert_refused(jupyter, "/vscode/")


def test_user_work_survives(legacy, jupyter):
    layout = legacy.layout
    project = layout.workspace if layout.name == "linuxserver" else f"{layout.home}/project"
    assert jupyter.exec(["cat", f"{project}/runtime.txt"]).strip() == "written at run time"
    assert "hello from the legacy container" in jupyter.exec(["cat", f"{project}/analysis.py"])
    assert '"editor.fontSize": 17' in jupyter.exec(["cat", layout.settings])
    assert jupyter.exec(["cat", f"{layout.home}/notes.txt"]).strip() == "notes kept in the home"
    assert "public key" in jupyter.exec(["cat", f"{layout.home}/.ssh/id_ed25519.pub"])
    config = jupyter.exec(["cat", layout.config_yaml])
    assert "bind-addr: 0.0.0.0:8080" in config and "auth: password" in config, config  # the rest is kept
    assert not [line for line in config.splitlines() if line.split(":")[0] in ("password", "hashed-password")], config
    owners = jupyter.exec(["sh", "-c", f"find {' '.join(layout.mounts)} ! -user {layout.uid} | head -n 5"], user="root")
    assert owners.strip() == "", f"files copied from the mounts that the user does not own:\n{owners}"


def test_what_the_server_imports_is_compiled_in_the_image(jupyter):
    """As in base: the container's user cannot write /opt/jupyter, so bytecode is made at build time."""
    count, missing = uncompiled_server_modules(jupyter)
    assert count > 300 and missing == [], (count, missing[:20])


def test_code_server_uses_the_same_state(legacy, jupyter):
    layout = legacy.layout
    jupyter.wait_for("/vscode/", timeout=120)
    commands = jupyter.exec(["ps", "-eo", "args="])
    server = next(line for line in commands.splitlines() if "/usr/lib/code-server/out/node/entry.js" in line)
    for expected in (f"--extensions-dir {layout.extensions_dir}", f"--user-data-dir {layout.user_data_dir}",
                     f"--config {layout.config_yaml}", layout.workspace):
        assert expected in server, server
    assert EXTENSION_ID in jupyter.exec(["code-server", "--list-extensions"]).split()


def test_no_secret_is_in_any_layer_or_the_config(legacy, migration):
    found = find_in_image(migration["image"], legacy.layout.markers(), legacy.layout.dropped_paths())
    assert found == [], "\n".join(found[:20])


def test_environment_drops_secrets_and_keeps_the_rest(legacy, migration, engine):
    env = dict(entry.split("=", 1) for entry in engine.images.get(migration["image"]).attrs["Config"]["Env"])
    assert not set(legacy.layout.env) & set(env), sorted(env)
    assert env["PROJECT_NOTE"] == legacy.layout.kept_env["PROJECT_NOTE"]


def test_no_way_to_root(legacy, migration, jupyter):
    assert migration["sudo_before"] == 0, "the fixture should allow passwordless sudo before migration"
    assert jupyter.tracked.container.exec_run(["sudo", "-n", "true"], user=str(legacy.layout.uid)).exit_code != 0
    assert jupyter.exec(["stat", "-c", "%a", "/usr/local/bin/fixuid"]).strip() == "755"


def test_runs_as_the_original_user_with_singleuser_on_path(legacy, jupyter):
    assert process_uids(jupyter, "jupyter-lab") == {legacy.layout.uid}
    assert jupyter.exec(["id", "-un"]).strip() == legacy.layout.user
    assert jupyter.exec(["sh", "-c", "command -v jupyterhub-singleuser"]).strip() == "/opt/jupyter/bin/jupyterhub-singleuser"


def test_under_another_uid_says_plainly_that_the_home_is_its_users(legacy, migration):
    """The migrated work belongs to the source's user: another uid (a cluster's) can read it but not write
    it, and the image says so in one line rather than leave Jupyter's PermissionError to explain it."""
    from jupyter_container import poll_until
    from tracked import TestContainer

    tracked = TestContainer(migration["image"], user="12345:0", name=f"labstack-smoke-{uuid.uuid4().hex[:8]}",
                               environment={"JUPYTER_IP": "127.0.0.1", "JUPYTER_PORT": "1"})
    try:
        tracked.run_detached()
        poll_until(lambda: "not writable" in tracked.logs() or tracked.status() == "exited", 60, 1, tracked.logs)
        home = legacy.layout.home
        assert (f"labstack: {home} is not writable by uid 12345 (groups 0): run this image as its own user "
                f"(uid {legacy.layout.uid})") in tracked.logs()
    finally:
        tracked.remove()


def test_code_server_was_not_reinstalled(jupyter):
    jupyter.wait_for("/vscode/", timeout=120)
    commands = jupyter.exec(["ps", "-eo", "args="])
    assert "/usr/lib/code-server/lib/node /usr/lib/code-server/out/node/entry.js" in commands
    assert "/opt/node" not in commands


def test_vscode_in_a_browser_opens_the_workspace_with_the_jupyter_python(browser, legacy, jupyter):
    """A person on the migrated image: VS Code opens their workspace, with no chat panel or sign-in
    (labstack's machine settings; their own settings still win), and its terminal runs the image's
    Jupyter Python."""
    from browser import assert_no_chat, login, open_vscode, type_in_vscode_terminal, visit
    from jupyter_container import poll_until

    layout = legacy.layout
    page_visit = visit(browser, jupyter.base_url)
    login(page_visit, jupyter)
    open_vscode(page_visit, jupyter, f"/vscode/?folder={layout.workspace}")
    assert_no_chat(page_visit)
    entry = "analysis.py" if layout.name == "linuxserver" else "project"  # the workspace's explorer
    page_visit.page.wait_for_selector(f".explorer-folders-view .monaco-list-row[aria-label^='{entry}']", timeout=30_000)
    page_visit.screenshot(f"vscode-migrated-{layout.name}")
    type_in_vscode_terminal(page_visit, "command -v python3 jupyter > ~/mig-terminal.txt 2>&1; pwd >> ~/mig-terminal.txt; "
                            "echo done >> ~/mig-terminal.txt")

    def finished():  # the whole command ran: cat's "No such file" while it has not is no answer
        words = jupyter.exec(["cat", f"{layout.home}/mig-terminal.txt"], check=False).split()
        return words if words[-1:] == ["done"] else None

    written = poll_until(finished, 90, 1, lambda: "the VS Code terminal did not run the command")
    # python3: the user's environment in their home, for the container's own Python (docs/your-own-python.md)
    assert re.fullmatch(re.escape(layout.home) + r"/\.local/share/labstack/envs/python3\.\d+/bin/python3", written[0]), written
    assert written[1:] == ["/opt/jupyter/bin/jupyter", layout.workspace, "done"], written
    # The user's own code-server still checks its extension gallery for updates (an application-wide
    # setting that machine settings cannot change, and theirs to keep); nothing else leaves the page.
    others = [url for url in page_visit.foreign_requests() if not url.startswith("https://open-vsx.org/vscode/gallery/")]
    assert others == [], others[:10]
    page_visit.page.context.close()


def test_listens_on_loopback_only_whatever_it_is_told(migration):
    # The environment asks for TCP on every interface, and the kept config.yaml says bind-addr 0.0.0.0:8080.
    environment = {"JUPYTER_VSCODE_PROXY_USE_SOCKET": "no", "CODE_SERVER_HOST": "0.0.0.0"}
    with JupyterContainer(migration["image"], environment=environment) as jupyter:
        jupyter.wait_for("/vscode/", timeout=120)
        sockets = listening_sockets(jupyter)
        code_server = [s for s in sockets if "out/node/entry" in s["cmd"]]
        assert code_server, sockets
        assert all(s["address"] in LOOPBACK_HEX for s in sockets), sockets


# ---- what the migration must refuse: one line, exit 2, no image tagged

def test_from_image_migrates_an_earlier_commit(legacy_images, engine):
    # A container with everything in its own layer (no mounts: a commit records mounts as volumes,
    # and those it cannot hold, see below).
    secret = marker("fromimage")
    with TestContainer(legacy_images["codercom"], network_mode="none",
                          name=f"labstack-legacy-plain-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        tracked.exec(["sh", "-c", f"echo 'notes kept in the home' > ~/notes.txt && echo {secret} > ~/.git-credentials"])
        committed = f"labstack-test/committed:{uuid.uuid4().hex[:8]}"
        repository, tag = committed.split(":")
        tracked.container.commit(repository=repository, tag=tag)
    target = f"labstack-test/migrated-from-image:{uuid.uuid4().hex[:8]}"
    try:
        result = build_py("migrate", "--from-image", committed, "--image", target)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "workspace:    /home/coder" in result.stderr  # from the image's ENTRYPOINT and WORKDIR
        with JupyterContainer(target) as jupyter:
            assert jupyter.exec(["cat", "/home/coder/notes.txt"]).strip() == "notes kept in the home"
            assert engine.images.get(target).labels["io.labstack.migrated-from"] == f"image {committed}"
        assert find_in_image(target, [secret], ["/home/coder/.git-credentials"]) == []
    finally:
        remove_image(target)
        remove_image(committed)


def test_from_image_with_state_in_a_volume_is_refused(legacy_images, engine):
    # The linuxserver-style image declares VOLUME /config: a commit of it holds none of the user's work.
    assert_refused_migration(engine, ["--from-image", legacy_images["linuxserver"]],
                             "declares the volume(s) /config, which hold the user's state")


def test_mount_larger_than_the_limit_is_refused(legacy_images, engine):
    with LegacyContainer(legacy_images["linuxserver"], new_layout(LINUXSERVER)) as legacy:
        assert_refused_migration(engine, ["--container", legacy.container_name, "--max-copy-size", "100K"],
                                 "the mount /config holds more than")


def test_state_in_a_tmpfs_is_refused(legacy_images, engine):
    with TestContainer(legacy_images["codercom"], network_mode="none", tmpfs={"/home/coder/project": ""},
                          name=f"labstack-legacy-tmpfs-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        assert_refused_migration(engine, ["--container", tracked.name], "--skip-mount /home/coder/project")
        assert_refused_migration(engine, ["--container", tracked.name, "--skip-mount", "/nowhere"],
                                 "--skip-mount /nowhere: the container has no mount there")


def test_missing_container_is_refused(engine):
    assert_refused_migration(engine, ["--container", "labstack-no-such-container"], "no container named")


def test_container_with_neither_code_server_nor_r_is_refused(engine, image):
    with TestContainer(image("base"), network_mode="none", command=["sleep", "600"],
                          name=f"labstack-plain-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        assert_refused_migration(engine, ["--container", tracked.container.name], "has neither code-server nor R on the PATH of user jovyan")


def test_unsupported_os_is_refused(engine, base_ref, tmp_path):
    # The migration decides by /etc/os-release; an image that reports another distribution must be refused.
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        "RUN rm /etc/os-release && printf 'ID=alpine\\nPRETTY_NAME=\"Alpine Linux v3.20\"\\n' > /etc/os-release\n")
    tag = "labstack-test/other-os:smoke"
    build(BuildRequest(dockerfile=tmp_path / "Dockerfile", context=tmp_path, tags=[tag],
                       build_args={"BASE_IMAGE": base_ref}), lambda line: None)
    try:
        with TestContainer(tag, network_mode="none", command=["sleep", "600"],
                              name=f"labstack-other-os-{uuid.uuid4().hex[:8]}") as tracked:
            tracked.run_detached()
            assert_refused_migration(engine, ["--container", tracked.container.name],
                                     "migration supports Debian and Ubuntu only")
    finally:
        remove_image(tag)
