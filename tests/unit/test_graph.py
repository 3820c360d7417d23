"""The image graph as read from images/*/image.toml, and how specs resolve into build steps."""
from pathlib import Path

import pytest

from labstack import REPO_ROOT, LabstackError
from labstack.graph import load_graph


@pytest.fixture
def graph():
    return load_graph(REPO_ROOT / "images")


def write_layer(root: Path, name: str, parent: str = "", extra: str = "") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "image.toml").write_text(f'name = "{name}"\nparent = "{parent}"\n{extra}')
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")


def test_base_is_the_root(graph):
    assert graph.layer("base").parent == ""
    assert [(s.image, s.parent_image) for s in graph.plan("base")] == [("base", None)]


def test_every_layer_has_a_dockerfile_taking_its_source_arg(graph):
    from labstack.declared import render_dockerfile
    from labstack.staging import declared_context_path

    for layer in graph.layers.values():
        if layer.declaration:  # rendered when built: what would be written
            text = render_dockerfile(layer.name, layer.parent, layer.declaration, declared_context_path(layer.name))
        else:
            text = layer.dockerfile.read_text()
        assert f"ARG {layer.source_arg}" in text and "FROM ${" + layer.source_arg + "}" in text


def test_single_image_builds_its_parents_first(tmp_path):
    write_layer(tmp_path, "base")
    write_layer(tmp_path, "code-server", "base")
    graph = load_graph(tmp_path)
    steps = graph.plan("code-server")
    assert [(s.image, s.layer.name, s.parent_image) for s in steps] == [
        ("base", "base", None), ("code-server", "code-server", "base")]


def test_combination_builds_second_dockerfile_on_first_image(tmp_path):
    write_layer(tmp_path, "base")
    write_layer(tmp_path, "rstudio", "base")
    write_layer(tmp_path, "code-server", "base")
    steps = load_graph(tmp_path).plan("rstudio+code-server")
    assert [(s.image, s.layer.name, s.parent_image) for s in steps] == [
        ("base", "base", None), ("rstudio", "rstudio", "base"),
        ("rstudio-code-server", "code-server", "rstudio")]


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown image 'nope'"),
    ("base+nope", "unknown image 'nope'"),
    ("", "bad image spec"),
    ("base+", "bad image spec"),
    ("base+base", "appears twice"),
    ("code-server+base", "'base' has no parent layer, so it can only come first"),
])
def test_bad_specs(graph, spec, message):
    with pytest.raises(LabstackError, match=message):
        graph.plan(spec)


def test_combination_needs_the_layers_parent_below(tmp_path):
    write_layer(tmp_path, "base")
    write_layer(tmp_path, "other-root")
    write_layer(tmp_path, "code-server", "base")
    with pytest.raises(LabstackError, match="needs base below it"):
        load_graph(tmp_path).plan("other-root+code-server")


def test_migration_layer_is_not_built_directly(tmp_path):
    write_layer(tmp_path, "mig", extra='migration = true\nsource_arg = "SOURCE_IMAGE"\n')
    with pytest.raises(LabstackError, match="build.py migrate"):
        load_graph(tmp_path).plan("mig")


def test_unknown_parent_and_cycles_are_rejected(tmp_path):
    write_layer(tmp_path / "a", "x", "missing")
    with pytest.raises(LabstackError, match="unknown image 'missing'"):
        load_graph(tmp_path / "a")
    write_layer(tmp_path / "b", "x", "y")
    write_layer(tmp_path / "b", "y", "x")
    with pytest.raises(LabstackError, match="cycle"):
        load_graph(tmp_path / "b")


def test_folder_without_dockerfile_is_rejected(tmp_path):
    write_layer(tmp_path, "base")
    (tmp_path / "base" / "Dockerfile").unlink()
    with pytest.raises(LabstackError, match="no Dockerfile"):
        load_graph(tmp_path)
