"""`build.py migrate`: a running legacy code-server container becomes a Jupyter image, keeping its work."""
import uuid

import pytest

from labstack.baseimage import resolve_base_image
from labstack.engine import BuildRequest, build, remove_image
from labstack.smoke import JupyterContainer, TrackedContainer, poll_until
from conftest import settings_from_environment
from legacy import EXTENSION_ID, build_legacy_image
from probes import all_tags, assert_refused, build_py, process_uids

HOME = "/home/coder"
SETTINGS = f"{HOME}/.local/share/code-server/User/settings.json"


@pytest.fixture(scope="module")
def base_ref():
    return resolve_base_image(settings_from_environment().base_image, lambda line: None)


@pytest.fixture(scope="module")
def legacy_image(image, base_ref, engine):
    """The legacy-style code-server image, from our Debian base and our code-server files."""
    tag = build_legacy_image("labstack-test/legacy-code-server:smoke", base_ref, image("code-server"),
                             settings_from_environment())
    yield tag
    remove_image(tag)


@pytest.fixture(scope="module")
def legacy(legacy_image):
    """The legacy container, running, with state changed at run time: a new file and a changed setting."""
    with TrackedContainer(legacy_image, network_mode="none", name=f"labstack-legacy-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        settle(tracked)
        tracked.exec(["sh", "-c", f"echo 'written at run time' > {HOME}/project/runtime.txt"])
        tracked.exec(["sh", "-c", f"sed -i 's/\"editor.fontSize\": 14/\"editor.fontSize\": 17/' {SETTINGS}"])
        assert '"editor.fontSize": 17' in tracked.exec(["cat", SETTINGS])
        yield tracked


def settle(tracked, timeout=90):
    """Wait until code-server in the legacy container has started and stopped adding files."""
    previous = [None]

    def settled():
        current = changes(tracked)
        started = any(path.endswith("code-server-ipc.sock") for path, _ in current)
        done = started and current == previous[0]
        previous[0] = current
        return done

    poll_until(settled, timeout, 2, lambda: f"legacy code-server did not settle in {timeout}s:\n{tracked.logs()[-2000:]}")


def changes(tracked):
    return sorted((change["Path"], change["Kind"]) for change in (tracked.container.diff() or []))


@pytest.fixture(scope="module")
def migration(legacy, engine):
    before = {"diff": changes(legacy), "files": legacy.exec(["sh", "-c", f"cat {SETTINGS} {HOME}/project/*"])}
    target = f"labstack-test/migrated:{uuid.uuid4().hex[:8]}"
    result = build_py("migrate", "--container", legacy.container.name, "--tag", target, "--network", "host")
    assert result.returncode == 0, result.stderr[-3000:]
    yield {"image": target, "before": before, "stderr": result.stderr}
    remove_image(target)


@pytest.fixture(scope="module")
def jupyter(migration):
    with JupyterContainer(migration["image"]) as jupyter:
        yield jupyter


def test_migrate_reports_what_it_found(migration):
    report = migration["stderr"]
    for expected in ("Debian GNU/Linux 12", "coder (uid 1000", "/home/coder", "/usr/bin/code-server",
                     "4.139.1", "extensions:   1 in /home/coder/.local/share/code-server/extensions"):
        assert expected in report, report[-2000:]


def test_source_container_is_running_and_unchanged(legacy, migration):
    assert legacy.status() == "running"
    assert legacy.container.attrs["State"]["Paused"] is False
    assert changes(legacy) == migration["before"]["diff"]
    assert legacy.exec(["sh", "-c", f"cat {SETTINGS} {HOME}/project/*"]) == migration["before"]["files"]


def test_vscode_serves_the_workbench_only_with_token(jupyter):
    response = jupyter.wait_for("/vscode/", timeout=120)
    assert "vscode-workbench-web-configuration" in response.text
    assert_refused(jupyter, "/vscode/")


def test_user_work_survives(jupyter):
    assert jupyter.exec(["cat", f"{HOME}/project/runtime.txt"]).strip() == "written at run time"
    assert "hello from the legacy container" in jupyter.exec(["cat", f"{HOME}/project/analysis.py"])
    assert '"editor.fontSize": 17' in jupyter.exec(["cat", SETTINGS])


def test_extension_is_kept_and_listed_by_code_server(jupyter):
    assert EXTENSION_ID in jupyter.exec(["code-server", "--list-extensions"]).split()


def test_runs_as_the_original_user_with_singleuser_on_path(jupyter):
    assert process_uids(jupyter, "jupyter-lab") == {1000}
    assert jupyter.exec(["id", "-un"]).strip() == "coder"
    assert jupyter.exec(["sh", "-c", "command -v jupyterhub-singleuser"]).strip() == "/opt/jupyter/bin/jupyterhub-singleuser"


def test_code_server_was_not_reinstalled(jupyter):
    assert jupyter.exec(["sh", "-c", "command -v code-server"]).strip() == "/usr/bin/code-server"
    jupyter.wait_for("/vscode/", timeout=120)
    commands = jupyter.exec(["ps", "-eo", "args="])
    assert "/usr/lib/code-server/lib/node /usr/lib/code-server/out/node/entry.js" in commands


def test_from_image_migrates_an_earlier_commit(legacy, engine):
    committed = f"labstack-test/committed:{uuid.uuid4().hex[:8]}"
    target = f"labstack-test/migrated-from-image:{uuid.uuid4().hex[:8]}"
    repository, tag = committed.split(":")
    legacy.container.commit(repository=repository, tag=tag)
    try:
        result = build_py("migrate", "--from-image", committed, "--tag", target, "--network", "host")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "extensions:   1 in /home/coder/.local/share/code-server/extensions" in result.stderr
        with JupyterContainer(target) as jupyter:
            assert jupyter.exec(["cat", f"{HOME}/project/runtime.txt"]).strip() == "written at run time"
            assert EXTENSION_ID in jupyter.exec(["code-server", "--list-extensions"]).split()
            assert engine.images.get(target).labels["io.labstack.migrated-from"] == f"image {committed}"
    finally:
        remove_image(target)
        remove_image(committed)


# ---- bad input: one line, exit 2, no image tagged

def assert_refused_migration(engine, args, message):
    before = all_tags(engine)
    result = build_py("migrate", *args, "--network", "host")
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1]
    assert result.stderr.strip().splitlines()[-1].startswith("build.py: error: ")
    assert all_tags(engine) == before


def test_missing_container_is_refused(engine):
    assert_refused_migration(engine, ["--container", "labstack-no-such-container"], "no container named")


def test_container_without_code_server_is_refused(engine, image):
    with TrackedContainer(image("base"), network_mode="none", command=["sleep", "600"],
                          name=f"labstack-plain-{uuid.uuid4().hex[:8]}") as tracked:
        tracked.run_detached()
        assert_refused_migration(engine, ["--container", tracked.container.name], "has no code-server")


def test_unsupported_os_is_refused(engine, base_ref, tmp_path):
    # The migration decides by /etc/os-release; an image that reports another distribution must be refused.
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        "RUN rm /etc/os-release && printf 'ID=alpine\\nPRETTY_NAME=\"Alpine Linux v3.20\"\\n' > /etc/os-release\n")
    tag = "labstack-test/other-os:smoke"
    build(BuildRequest(dockerfile=tmp_path / "Dockerfile", context=tmp_path, tags=[tag],
                       build_args={"BASE_IMAGE": base_ref}), lambda line: None)
    try:
        with TrackedContainer(tag, network_mode="none", command=["sleep", "600"],
                              name=f"labstack-other-os-{uuid.uuid4().hex[:8]}") as tracked:
            tracked.run_detached()
            assert_refused_migration(engine, ["--container", tracked.container.name],
                                     "migration supports Debian and Ubuntu only")
    finally:
        remove_image(tag)
