"""An app layer added in a folder of its own is served as that folder declares, with no edit elsewhere:
the walkthrough's hello layer (tests/fixtures/hello-layer, docs/adding-a-layer.md), put into a copy of
images/ and built on the base image under test. It runs once, on the base image."""
import shutil

from labstack import REPO_ROOT
from labstack.engine import BuildRequest, build, remove_image
from labstack.graph import load_graph
from jupyter_container import JupyterContainer
from probes import assert_app_answers, expected_server_names, servers_info_names


def test_a_new_app_layer_is_served_as_its_folder_declares(image, settings, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(REPO_ROOT / "images", images, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "hello-layer", images / "hello")
    graph = load_graph(images)
    assert [layer.name for layer in graph.ancestry("hello")] == ["base", "hello"]
    hello = [app for app in graph.apps("hello") if app.name == "hello"]
    assert len(hello) == 1
    tag = "labstack/hello:smoke-variant"
    build(BuildRequest(dockerfile=images / "hello" / "Dockerfile", context=tmp_path, tags=[tag],
                       build_args={"BASE_IMAGE": image("base")}, network=settings.network), print)
    try:
        with JupyterContainer(tag) as jupyter:
            assert servers_info_names(jupyter) == expected_server_names(jupyter)  # base's test, unchanged
            assert "hello" in servers_info_names(jupyter)
            assert_app_answers(jupyter, hello[0], timeout=60)
            assert jupyter.get(hello[0].default_url, token=False).status_code in (302, 403)
    finally:
        remove_image(tag)
