"""Pure pieces of the build: each step's build arguments, why a build failed, a migration's default name."""
from pathlib import Path

from labstack.builder import step_build_args
from labstack.settings import BuildSettings
from labstack.engine import _failure_reason
from labstack.graph import images_dir, load_graph
from labstack.migration.migrate import default_target
from labstack.tags import Naming

GRAPH = load_graph(images_dir())


def test_step_build_args_parent_root_layer_args_and_overrides():
    steps = GRAPH.plan("rstudio+code-server")
    settings = BuildSettings(naming=Naming(), keep_ca_bundle=True, build_args={"CODE_SERVER_VERSION": "9.9.9"},
                             layer_args={"rstudio": {"RSTUDIO_VERSION": "none"}})
    rstudio = step_build_args(steps[1], settings, "labstack/base:latest", "labstack/base:latest")
    assert rstudio["BASE_IMAGE"] == "labstack/base:latest" and rstudio["RSTUDIO_VERSION"] == "none"
    assert rstudio["KEEP_CA_BUNDLE"] == "1"
    top = step_build_args(steps[2], settings, "labstack/rstudio:latest", "labstack/base:latest")
    assert top["BASE_IMAGE"] == "labstack/rstudio:latest" and top["BUILDER_IMAGE"] == "labstack/base:latest"
    assert "RSTUDIO_VERSION" not in top  # layer arguments go to their own layer only
    assert top["CODE_SERVER_VERSION"] == "9.9.9"  # --build-arg comes last and wins
    overridden = step_build_args(steps[2], BuildSettings(naming=Naming(), build_args={"BASE_IMAGE": "x:1"}), "p", "r")
    assert overridden["BASE_IMAGE"] == "x:1"


RECORDED = """#12 [stage-1 3/9] RUN --mount=type=secret,id=ca_bundle . /usr/local/lib/labstack/ca-env.sh && pip install x
#12 1.203 Collecting x
#12 4.551 ERROR: Could not fetch URL https://pypi.org/simple/x/: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed
#12 4.552 ERROR: No matching distribution found for x
#12 ERROR: executor failed running [/bin/sh -c pip install x]: exit code: 1
------
 > [stage-1 3/9] RUN pip install x:
------
error: failed to solve: executor failed running [/bin/sh -c pip install x]: exit code: 1"""


def test_failure_reason_names_the_step_output_and_a_hint():
    reason = _failure_reason(RECORDED.splitlines(), 1)
    assert reason.startswith("ERROR: No matching distribution found for x")
    assert reason.endswith("(TLS certificate rejected: behind an intercepting proxy, pass --ca-bundle)")


def test_failure_reason_knows_uvs_certificate_error():
    tail = ["#8 3.2 error: Request failed after 3 retries", "#8 3.2   Caused by: invalid peer certificate: UnknownIssuer"]
    assert _failure_reason(tail, 2).endswith("(TLS certificate rejected: behind an intercepting proxy, pass --ca-bundle)")


def test_failure_reason_prefers_our_install_scripts_line():
    tail = ["#9 0.51 labstack-error: cannot download RStudio Server 1: hand build.py the .deb", "#9 ERROR: exit 1"]
    assert _failure_reason(tail, 1) == "cannot download RStudio Server 1: hand build.py the .deb"
    assert _failure_reason(["nothing useful"], 7) == "exit 7"


def test_default_target_of_a_migration():
    assert default_target("Alice's VS Code", "ds", "r.example.org:5000", "2026-11") == "r.example.org:5000/ds/alice-s-vs-code-jupyter:2026-11"
    assert default_target("___", "labstack", "", "latest") == "labstack/migrated-jupyter:latest"


def test_test_all_builds_in_waves_each_after_the_images_it_is_built_on():
    from labstack.testing.plan import default_specs, waves

    graph = load_graph(images_dir())
    grouped = waves(default_specs(graph), graph)
    assert grouped[0] == ["base"]
    position = {spec: index for index, wave in enumerate(grouped) for spec in wave}
    for spec, index in position.items():
        parents = [step.image for step in graph.plan(spec)[:-1]]
        assert all(position[parent] < index for parent in parents if parent in position), (spec, grouped)
    assert {"code-server", "rstudio"} <= set(grouped[1])  # npm and apt at once


def test_a_cancelled_run_starts_no_build_after():
    import pytest

    from labstack import engine
    from labstack.engine import BuildFailed, BuildRequest, build, cancel_builds

    try:
        cancel_builds()
        with pytest.raises(BuildFailed, match="cancelled"):
            build(BuildRequest(dockerfile=Path("Dockerfile"), context=Path("."), tags=["labstack/x:never"]), print)
    finally:
        engine._CANCELLED.clear()


def test_builds_of_one_image_take_turns_and_others_do_not_wait():
    """Two builds of one image at once deleted each other's image (one_build_at_a_time): the second
    waits for the first, in another thread as in another process; a build of another image does not."""
    import threading
    import time

    from labstack.builder import one_build_at_a_time

    entered = {}

    def build(image, name):
        with one_build_at_a_time(image):
            entered[name] = time.monotonic()

    with one_build_at_a_time("labstack-unit-test-base"):
        same = threading.Thread(target=build, args=("labstack-unit-test-base", "same"))
        other = threading.Thread(target=build, args=("labstack-unit-test-other", "other"))
        same.start(), other.start()
        other.join(10)
        time.sleep(0.5)
        assert "other" in entered and "same" not in entered
        released = time.monotonic()
    same.join(10)
    assert entered["same"] >= released
