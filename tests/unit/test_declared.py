"""What labstack renders for a declared layer (a folder with an image.toml and no Dockerfile), and what
it refuses to render: as repo2docker tests its buildpacks, by the text they produce."""
import tomllib
from types import SimpleNamespace

import pytest

from labstack import LabstackError
from labstack.declared import read_declaration, render_dockerfile, render_drop_in
from labstack.staging import stage_declared as stage

DASHBOARD = """
name = "dashboard"
parent = "base"
description = "a dashboard"

[packages]
apt = ["graphviz"]
pip = ["panel==1.5.4", "hvplot==0.11.1"]
r = ["tidyverse", "data.table"]

[[apps]]
name = "panel"
title = "Panel"
command = ["panel", "serve", "{folder}/app.py", "--address", "127.0.0.1", "--port", "{port}"]
icon = "panel.svg"
marker = "bk-root"
"""


def declared(tmp_path, text=DASHBOARD, files=("panel.svg", "app.py")):
    folder = tmp_path / "dashboard"
    folder.mkdir(exist_ok=True)
    for name in files:
        (folder / name).write_text("x")
    (folder / "image.toml").write_text(text)
    return folder, read_declaration(folder / "image.toml", tomllib.loads(text))


def test_packages_and_apps_are_read(tmp_path):
    _, declaration = declared(tmp_path)
    assert (declaration.apt, declaration.r) == (("graphviz",), ("tidyverse", "data.table"))
    assert declaration.pip == ("panel==1.5.4", "hvplot==0.11.1")
    assert [app.name for app in declaration.apps] == ["panel"]


def test_the_dockerfile_follows_the_hand_written_layers_rules(tmp_path):
    _, declaration = declared(tmp_path)
    text = render_dockerfile("dashboard", "base", declaration, "build/stage/dashboard/declared")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:3] == ["ARG BASE_IMAGE=labstack/base:latest", "FROM ${BASE_IMAGE}", "USER root"]
    assert lines[-2:] == ["USER ${NB_UID}", "WORKDIR /home/jovyan"]
    assert "/usr/local/lib/labstack/apt-install graphviz\n" in text
    assert "ARG LABSTACK_CRAN_URL=\n" in text  # empty unless given: the image's own mirror
    assert "/usr/local/lib/labstack/install-r-packages tidyverse data.table\n" in text
    assert ('pip install --no-cache-dir --constraint /usr/local/lib/labstack/jupyter-lock.txt '
            '"panel==1.5.4" "hvplot==0.11.1"') in text
    # the CA bundle is a secret on the three networked steps, and nowhere else
    assert text.count("--mount=type=secret,id=ca_bundle") == 3
    assert "ca_bundle" not in "".join(line for line in lines if line.startswith(("COPY", "LABEL", "ENV")))
    assert "COPY build/stage/dashboard/declared/60-dashboard.py /etc/jupyter/labstack.d/60-dashboard.py" in text
    assert "COPY build/stage/dashboard/declared/folder/ /opt/labstack/layers/dashboard/" in text
    assert 'LABEL io.labstack.dashboard.declared="apt: graphviz; pip: panel==1.5.4 hvplot==0.11.1; r: tidyverse data.table"' in text


def test_a_layer_with_packages_only_has_no_networkless_extras(tmp_path):
    _, declaration = declared(tmp_path, '[packages]\nr = ["tidyverse"]\n', files=())
    text = render_dockerfile("tidyverse", "rstudio", declaration, "build/stage/tidyverse/declared")
    assert "ARG BASE_IMAGE=labstack/rstudio:latest" in text
    assert "pip install" not in text and "labstack.d" not in text
    assert "install-r-packages tidyverse" in text and "apt-install" not in text


def test_the_drop_in_puts_the_app_behind_jupyter_server_proxy(tmp_path):
    _, declaration = declared(tmp_path)
    c = SimpleNamespace(ServerProxy=SimpleNamespace(servers={}))
    exec(compile(render_drop_in("dashboard", declaration), "60-dashboard.py", "exec"),
         {"c": c, "LABSTACK_DEFAULT_TIMEOUT": 30})
    assert c.ServerProxy.servers == {"panel": {
        "command": ["panel", "serve", "/opt/labstack/layers/dashboard/app.py", "--address", "127.0.0.1", "--port", "{port}"],
        "absolute_url": False,
        "launcher_entry": {"title": "Panel", "icon_path": "/opt/labstack/layers/dashboard/panel.svg"},
        "timeout": 60,
    }}


def test_a_unix_socket_app_asks_jupyter_server_proxy_for_one(tmp_path):
    text = DASHBOARD.replace('"--address", "127.0.0.1", "--port", "{port}"', '"--unix-socket", "{unix_socket}"')
    _, declaration = declared(tmp_path, text)
    c = SimpleNamespace(ServerProxy=SimpleNamespace(servers={}))
    exec(render_drop_in("dashboard", declaration), {"c": c, "LABSTACK_DEFAULT_TIMEOUT": 90})
    assert c.ServerProxy.servers["panel"]["unix_socket"] is True
    assert c.ServerProxy.servers["panel"]["timeout"] == 90


def test_stage_writes_what_the_dockerfile_copies(tmp_path):
    folder, declaration = declared(tmp_path)
    dockerfile = stage("dashboard", "base", folder, declaration, tmp_path / "build" / "stage", tmp_path)
    staged = tmp_path / "build" / "stage" / "dashboard" / "declared"
    assert dockerfile == staged / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            assert (tmp_path / line.split()[1]).exists(), line
    assert (staged / "folder" / "image.toml").read_text() == DASHBOARD


def test_staging_again_leaves_what_is_unchanged_in_place(tmp_path):
    """A bake on another engine reads these files while the host's builds stage them again: what has not
    changed is not rewritten (same inode, same mtime), what has is replaced, what went is removed, and the
    files a layer's flags stage beside them leave the rendered ones alone."""
    from labstack.staging import sync_files

    folder, declaration = declared(tmp_path)
    root = tmp_path / "build" / "stage"
    dockerfile = stage("dashboard", "base", folder, declaration, root, tmp_path)
    staged = dockerfile.parent
    # what the image COPYs keeps a file's usual mode: jovyan reads the drop-in
    assert all(path.stat().st_mode & 0o444 == 0o444 for path in staged.rglob("*") if path.is_file())
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in staged.rglob("*") if path.is_file()}
    (folder / "app.py").write_text("changed")
    (folder / "panel.svg").unlink()
    (folder / "image.toml").chmod(0o755)  # a mode changes, the content not
    stage("dashboard", "base", folder, declaration, root, tmp_path)
    after = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in staged.rglob("*") if path.is_file()}
    assert (staged / "folder" / "app.py").read_text() == "changed"
    assert staged / "folder" / "panel.svg" not in after
    assert (staged / "folder" / "image.toml").stat().st_mode & 0o777 == 0o755
    unchanged = [path for path in before if path.name not in ("app.py", "panel.svg")]
    assert unchanged and all(after[path] == before[path] for path in unchanged)
    # the flags' files (a .deb, say) beside the rendered ones: each build stages its own, not the other's
    deb = tmp_path / "server.deb"
    deb.write_text("deb")
    sync_files(root / "dashboard", [deb], keep=("declared",))
    sync_files(root / "dashboard", [], keep=("declared",))
    assert not (root / "dashboard" / "server.deb").exists() and dockerfile.is_file()


@pytest.mark.parametrize("change, says", [
    (('"panel==1.5.4"', '"panel"'), "needs a pinned version"),
    (('"panel==1.5.4"', '"panel>=1"'), "needs a pinned version"),
    (('"127.0.0.1"', '"0.0.0.0"'), "binds 0.0.0.0"),
    (('"--address", "127.0.0.1"', '"--address=0.0.0.0"'), "binds 0.0.0.0"),
    (('"--address", "127.0.0.1"', '"--host", "::"'), "binds ::"),
    (('"--port", "{port}"', '"--port", "8050"'), "neither {port} nor {unix_socket}"),
    (('apt = ["graphviz"]', 'apt = ["graphviz; rm -rf /"]'), "is not a Debian package name"),
    (('r = ["tidyverse", "data.table"]', 'r = ["tidy verse"]'), "is not an R package name"),
    (('[packages]', '[packages]\nconda = ["x"]'), "has no 'conda'"),
    (('icon = "panel.svg"', 'icon = "../secret.svg"'), "is not a file in"),
    (('name = "panel"', 'name = "Panel App"'), "lowercase letters"),
    (('command = [', 'commands = ['), "needs command"),
])
def test_what_a_declared_layer_cannot_say(tmp_path, change, says):
    text = DASHBOARD.replace(*change)
    assert text != DASHBOARD
    with pytest.raises(LabstackError, match=None) as error:
        declared(tmp_path, text)
    assert says in str(error.value)
    assert "image.toml" in str(error.value)


def test_a_folder_declaring_nothing_is_refused(tmp_path):
    with pytest.raises(LabstackError, match="nothing declared"):
        declared(tmp_path, 'name = "dashboard"\nparent = "base"\n', files=())


def images_with(tmp_path, name: str, text: str, dockerfile: bool = False):
    """An images folder with a plain base layer and one more."""
    images = tmp_path / "images"
    (images / "base").mkdir(parents=True)
    (images / "base" / "image.toml").write_text('description = "base"\n')
    (images / "base" / "Dockerfile").write_text("FROM scratch\n")
    (images / name).mkdir()
    (images / name / "image.toml").write_text(text)
    (images / name / "panel.svg").write_text("x")
    if dockerfile:
        (images / name / "Dockerfile").write_text("FROM scratch\n")
    return images


def test_the_graph_holds_a_declared_layer_and_its_apps(tmp_path):
    from labstack.graph import load_graph

    graph = load_graph(images_with(tmp_path, "dashboard", DASHBOARD))
    layer = graph.layer("dashboard")
    assert layer.declaration.pip == ("panel==1.5.4", "hvplot==0.11.1")
    assert layer.dockerfile.parts[-4:] == ("stage", "dashboard", "declared", "Dockerfile")
    assert [(app.name, app.default_url, app.marker, app.standalone) for app in graph.apps("dashboard")] == [
        ("panel", "/panel/", "bk-root", "labstack-alone panel")]
    assert graph.layer("base").declaration is None


def test_all_builds_a_declared_layer_on_its_own_and_stacks_only_on_shipped_layers(tmp_path):
    from labstack.graph import load_graph
    from labstack.testing.plan import default_specs

    images = images_with(tmp_path, "dashboard", DASHBOARD)
    for name, text in (("code-server", 'parent = "base"\nstackable = true\n'), ("rstudio", 'parent = "base"\n')):
        (images / name).mkdir()
        (images / name / "image.toml").write_text(text)
        (images / name / "Dockerfile").write_text("FROM scratch\n")
    assert sorted(default_specs(load_graph(images))) == ["base", "code-server", "dashboard", "rstudio",
                                                         "rstudio+code-server"]


def test_packages_beside_a_dockerfile_are_refused(tmp_path):
    from labstack.graph import load_graph

    with pytest.raises(LabstackError, match="for a layer without a Dockerfile"):
        load_graph(images_with(tmp_path, "dashboard", DASHBOARD, dockerfile=True))


def test_build_py_render_prints_the_dockerfile_or_says_why_not(tmp_path, build_py):
    images = {"LABSTACK_IMAGES_DIR": str(images_with(tmp_path, "dashboard", DASHBOARD))}
    shown = build_py("render", "dashboard", env_extra=images)
    assert shown.returncode == 0 and shown.stdout.startswith("# Rendered by labstack"), shown.stderr
    refused = build_py("render", "base", env_extra=images)
    assert refused.returncode == 2 and refused.stderr.strip().endswith("has a Dockerfile of its own: "
                                                                       f"{tmp_path}/images/base/Dockerfile")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_an_admins_folder_of_layers_joins_the_graph_and_a_clash_is_one_line(tmp_path, monkeypatch, build_py):
    from pathlib import Path

    from labstack.graph import layer_folders, load_graph

    root = Path(__file__).resolve().parents[2]
    admin = tmp_path / "admin"
    (admin / "course").mkdir(parents=True)
    (admin / "course" / "image.toml").write_text('parent = "base"\n[packages]\nr = ["tidyverse"]\n')
    monkeypatch.delenv("LABSTACK_LAYERS", raising=False)
    graph = load_graph(root / "images", *layer_folders([admin]))
    course = graph.layer("course")
    assert course.outside and course.declaration.r == ("tidyverse",) and not graph.layer("base").outside
    assert [layer.name for layer in graph.ancestry("course")] == ["base", "course"]
    listed = build_py("--layers", str(admin), "list")
    assert listed.returncode == 0 and "\ncourse " in listed.stdout, listed.stderr
    from_env = build_py("render", "course", env_extra={"LABSTACK_LAYERS": str(admin)})
    assert from_env.returncode == 0 and "install-r-packages tidyverse" in from_env.stdout, from_env.stderr
    (admin / "base").mkdir()
    (admin / "base" / "image.toml").write_text('[packages]\napt = ["git"]\n')
    clash = build_py("list", "--layers", str(admin))
    assert clash.returncode == 2 and clash.stderr.count("\n") == 1, clash.stderr
    assert "two layers are named 'base'" in clash.stderr
    missing = build_py("--layers", str(tmp_path / "nope"), "list")
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_a_declared_layers_pip_pins_are_locked_with_jupyters_environment(tmp_path):
    from labstack.lock import top_level

    images = images_with(tmp_path, "dashboard", DASHBOARD)
    found = top_level(images)
    assert found["panel"] == "1.5.4" and found["hvplot"] == "0.11.1"


def test_a_declared_apps_alone_choice_runs_labstack_alone_with_its_name(tmp_path):
    from labstack.graph import load_graph
    from labstack.hub import profile_list
    from labstack.tags import Naming

    graph = load_graph(images_with(tmp_path, "dashboard", DASHBOARD))
    values = profile_list(graph, ["dashboard"], Naming(owner="labstack", tag="latest"))
    choices = [profile for profile in values["singleuser"]["profileList"] if "profile_options" in profile][0]
    alone = choices["profile_options"]["app"]["choices"]["panel-alone"]["kubespawner_override"]
    assert alone == {"image": "labstack/dashboard:latest", "cmd": ["labstack-alone", "panel"], "default_url": "/"}


def test_staging_in_either_order_keeps_what_the_other_staged(tmp_path):
    """A layer's flag files and its rendered inputs share build/stage/<layer>/: neither writer removes
    the other's, whichever comes first (a bake stages both, a build beside it one of them)."""
    from labstack.staging import stage_files

    folder, declaration = declared(tmp_path)
    root = tmp_path / "build" / "stage"
    extra = tmp_path / "x.vsix"
    extra.write_text("x")
    dockerfile = stage("dashboard", "base", folder, declaration, root, tmp_path)
    stage_files("dashboard", [extra], root)
    assert dockerfile.is_file() and (root / "dashboard" / "x.vsix").is_file()
    stage_files("dashboard", [], root)
    stage("dashboard", "base", folder, declaration, root, tmp_path)
    stage_files("dashboard", [extra], root)
    assert dockerfile.is_file() and (root / "dashboard" / "x.vsix").is_file()
