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


def test_an_admins_declared_layer_outside_the_checkout_builds_and_passes_its_tests(image, engine, tmp_path):
    """The walkthrough's declared hello (no Dockerfile), in a folder of the admin's own outside the checkout:
    `build.py --layers DIR test hello` renders, builds and tests it, running what it declares
    (tests/declared/), base's launcher test and the tests in its own folder (tests/test_hello.py) on the
    image built on this run's base."""
    from probes import all_tags, build_py

    admin = tmp_path / "admin-layers"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "hello-declared", admin / "hello")
    image("base")  # built (or given) before: the nested build finds it in the cache
    # one lane: one summary line to read (base's modules, hello's own and the declared ones)
    result = build_py("--layers", str(admin), "test", "hello", "--tag", "smoke-declared", "--lanes", "1",
                      "--pytest-args", "-q", "-k", "declared_layers or hello_serves or launcher_shows_every_app",
                      timeout=900)
    try:
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
        # apt, the app, base's launcher test on base and on hello (which gives no icon: optional) and
        # hello's own test pass;
        # R and pip, which hello declares none of, skip and say so
        assert "5 passed, 2 skipped" in result.stdout, result.stdout[-2000:]
    finally:
        for tag in all_tags(engine):
            if tag.startswith("labstack/hello:") or tag == "labstack/base:smoke-declared":
                remove_image(tag)
