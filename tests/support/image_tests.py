"""The pytest plugin of every test run (the repository's conftest.py loads it; `build.py test` names it
too, for the tests of layers kept outside the checkout): the --image and --labstack-settings options,
the image fixtures, the browser and the evidence a failed test keeps.

`build.py test` builds the images and passes them (--image NAME=REF) with its settings
(--labstack-settings); run by hand, pytest builds what it needs through the same settings path
(labstack.settings, from the environment alone), under the tag `smoke` so tests never replace a user's
images.

Which layer a module tests is the one rule of labstack.testing.plan: the layer whose folder holds it
(images/<layer>/tests/, or an admin's <folder>/<layer>/tests/); tests/declared/ holds what every
declared layer is tested for. A module whose tests take `spec` runs on every image that contains
its layer."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import docker.errors
import pytest

from labstack import LabstackError
from labstack.baseimage import resolve_base_image
from labstack.settings import BuildSettings
from labstack.containers import remove_stray_containers
from tracked import PRODUCT_FILTERS, session_filter
from labstack.engine import client
from labstack.graph import images_dir, layer_folders, load_graph
from labstack.tags import Naming
from labstack.settings import from_environment, from_json
from labstack.testing.plan import (FALLBACK_NOTE, build_with_fallback, default_specs, is_declared_module,
                                   layer_of_module, layers_of)
import beside

GRAPH = load_graph(images_dir(), *layer_folders())  # an admin's folders too (LABSTACK_LAYERS, set by build.py)
# Images a test builds with extra files (a test extension) get a tag of their own, and no version tag:
# they must never look like a released image or replace the ones under test.
VARIANT_TAG = "smoke-variant"


def given_images(config) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in config.getoption("--image"))


@pytest.fixture(scope="session")
def settings(request) -> BuildSettings:
    path = request.config.getoption("--labstack-settings")
    if path:
        return from_json(Path(path).read_text())
    return replace(from_environment(GRAPH), naming=replace(Naming.from_environment(tag="smoke"), version_tag=""))


@pytest.fixture(scope="session")
def base_ref(settings, engine) -> str:
    """The external base image, pulled or bootstrapped once per run."""
    return resolve_base_image(settings.base_image, lambda line: None)


@pytest.fixture(scope="session")
def engine():
    try:
        engine = client()
    except LabstackError as error:
        pytest.fail(f"image tests need a Docker Engine: {error}")
    # this run's own (LABSTACK_SMOKE_SESSION names a run, so that two can share an engine), else all
    mine = session_filter()
    volumes = {"filters": {"label": mine}} if os.environ.get("LABSTACK_SMOKE_SESSION") else {}  # else every volume
    volumes_before = {volume.name for volume in engine.volumes.list(**volumes)}
    yield engine
    left = remove_stray_containers(mine)
    if not os.environ.get("LABSTACK_SMOKE_SESSION"):  # the engine is this run's alone: labstack's own too
        left += sum(remove_stray_containers(label) for label in PRODUCT_FILTERS)
    assert left == 0, f"{left} labstack container(s) were left behind by a test"
    new_volumes = {volume.name for volume in engine.volumes.list(**volumes)} - volumes_before
    assert not new_volumes, f"volume(s) left behind by a test: {sorted(new_volumes)}"


@pytest.fixture(scope="session")
def image(engine, settings, request):
    """image(spec, extra_files) -> the image for spec: the one given with --image, else built now."""
    given = given_images(request.config)
    built: dict[tuple, str] = {}
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def get(spec: str, extra_files: dict[str, list[Path]] | None = None) -> str:
        if not extra_files and spec in given:
            return given[spec]
        key = (spec, tuple(sorted((k, tuple(v)) for k, v in (extra_files or {}).items())))
        if key not in built:
            variant = settings
            if extra_files:
                files = {layer: settings.layer_files.get(layer, []) + list(extra_files.get(layer, []))
                         for layer in {*settings.layer_files, *extra_files}}
                variant = replace(settings, layer_files=files, naming=replace(settings.naming, tag=VARIANT_TAG,
                                                                             version_tag=""))
            with capture.global_and_fixture_disabled():
                built[key] = build_for_tests(spec, variant, log)
        return built[key]

    return get


def build_for_tests(spec: str, settings: BuildSettings, log) -> str:
    """Build spec as `build.py test` would (testplan's fallback included), and tell this session's
    summary, and the build.py runs its tests make, when a layer's switch was turned on."""
    built, flag, note = build_with_fallback(spec, settings, GRAPH, log)
    if flag:
        os.environ[flag.env] = "1"  # build.py, run by tests of this session, decides the same
        os.environ[FALLBACK_NOTE] = note
    return built[-1].tags[0]


def pytest_generate_tests(metafunc):
    """A layer's module runs on every image that contains its layer: the images given with --image, or
    (run by hand) every image `build.py test all` would build."""
    if "spec" not in metafunc.fixturenames:
        return
    module = Path(metafunc.module.__file__)
    layer = layer_of_module(GRAPH, module)
    if layer is None and not is_declared_module(module):
        return  # not an image test (a unit test's own `spec`)
    candidates = list(given_images(metafunc.config)) or default_specs(GRAPH)
    if layer is None:  # tests/declared/: what every declared layer declares, on each image with one
        specs = [spec for spec in candidates if any(GRAPH.layers[name].declaration for name in layers_of(GRAPH, spec))]
        metafunc.parametrize("spec", specs, scope="module")
        return
    specs = [spec for spec in candidates if layer in layers_of(GRAPH, spec) and not GRAPH.layers[layer].migration]
    chosen = set()
    if metafunc.definition.get_closest_marker("layer_image") and specs:
        # A mechanism of the layer's own files (streaming, crash loops, limits, load): the images built on
        # the layer run the same files, so it is tested once, on the layer's own image where it was given.
        chosen |= {spec for spec in specs if spec == layer} or {specs[0]}
    if metafunc.definition.get_closest_marker("widest_image") and specs:
        # What the layers' apps do together: the image with the most layers holds every one of them.
        chosen.add(max(specs, key=lambda spec: len(layers_of(GRAPH, spec))))
    specs = [spec for spec in specs if spec in chosen] if chosen else specs
    metafunc.parametrize("spec", specs, scope="module")


def pytest_collection_modifyitems(items):
    """Unit tests first; then each module's tests grouped by image, in the order collected: pytest's own reordering can put a
    test with a parameter of its own (a route, an environment) among another image's tests, and the
    module's container for the first image is then booted a second time."""
    positions = [index for index, item in enumerate(items)
                 if "spec" in getattr(getattr(item, "callspec", None), "params", {})]
    first_seen: dict[tuple, int] = {}
    for index in positions:
        item = items[index]
        first_seen.setdefault((item.module.__name__, item.callspec.params["spec"]), index)
    ordered = sorted((items[index] for index in positions),
                     key=lambda item: first_seen[(item.module.__name__, item.callspec.params["spec"])])
    for index, item in zip(positions, ordered):
        items[index] = item
    # a module whose work is done beside the others (beside.py) runs last, to give that work the most time
    items.sort(key=lambda item: hasattr(item.module, "begin_beside"))
    _unit_tests_first(items)


@pytest.fixture(scope="session", autouse=True)
def work_beside(request):
    """Begin each module's work beside the others (beside.py) before the first test, once what runs is
    known (after -k and the like); the fixtures it asks for (engine, image) outlive it."""
    modules = dict.fromkeys(item.module for item in request.session.items if hasattr(item.module, "begin_beside"))
    beside.begin(modules, request)
    yield
    beside.stop_all()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _seconds_by_module(terminalreporter)
    note = os.environ.get(FALLBACK_NOTE)
    if note:
        terminalreporter.write_line(
            f"labstack: {note}. Those tests ran on the image built without it, and its own probes skipped; "
            f"to test it, pass the .deb: LABSTACK_RSTUDIO_DEB=FILE make test", yellow=True, bold=True)


@pytest.fixture(scope="session")
def browser():
    """Headless chromium (Debian's), driven by Playwright; one for the whole run."""
    from playwright.sync_api import sync_playwright

    from browser import launch_browser

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        record_failed_requests(chromium)
        yield chromium
        chromium.close()


def record_failed_requests(chromium) -> None:
    """Every context the tests open keeps the requests that failed or answered 4xx/5xx, for the
    evidence a failed test leaves (pytest_runtest_makereport), and each of its pages loads again
    what chromium aborted when the host's network changed (browser.load_again_when_the_network_changed)."""
    from browser import load_again_when_the_network_changed

    new_context = chromium.new_context

    def recording(*args, **kwargs):
        context = new_context(*args, **kwargs)
        new_page = context.new_page

        def guarded_page():
            page = new_page()
            load_again_when_the_network_changed(page)
            return page

        context.new_page = guarded_page
        context.on("page", load_again_when_the_network_changed)  # pages a page opens
        context.labstack_failed = []
        context.on("requestfailed", lambda request: context.labstack_failed.append(
            f"failed {request.method} {request.url}: {request.failure}"))
        context.on("response", lambda response: response.status >= 400 and context.labstack_failed.append(
            f"{response.status} {response.request.method} {response.url}"))
        return context

    chromium.new_context = recording


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test keeps its evidence, by one rule for every test: a screenshot of each page the
    browser has open (reports/screenshots/FAILED-...), the requests that failed there, and the log tail
    of each container or hub it used."""
    report = (yield).get_result()
    if report.when != "call" or not report.failed:
        return
    lines = []
    chromium = item.funcargs.get("browser")
    if chromium is not None:
        from browser import SCREENSHOTS

        name = "".join(c if c.isalnum() or c in "-_." else "-" for c in item.nodeid.split("::", 1)[-1])[:120]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for number, context in enumerate(chromium.contexts):
            for page_number, page in enumerate(context.pages):
                path = SCREENSHOTS / f"FAILED-{name}-{number}-{page_number}.png"
                try:
                    page.screenshot(path=str(path), timeout=10_000)
                    lines.append(f"page {page.url}: screenshot {path}")
                except Exception as error:  # noqa: BLE001 - a page that can't be shot says why
                    lines.append(f"page {page.url}: no screenshot ({error})")
            failed = getattr(context, "labstack_failed", [])
            lines += [f"  {line}" for line in failed[-30:]]
    for value in item.funcargs.values():
        tracked = getattr(value, "tracked", None)
        if tracked is not None and tracked.container is not None:
            try:
                lines.append(f"log tail of {tracked.name}:\n{tracked.logs()[-3000:]}")
            except docker.errors.NotFound:  # removed under the test: that is evidence too, not a crash of the run
                lines.append(f"log tail of {tracked.name}: none, the container no longer exists")
        if isinstance(value, dict) and hasattr(value.get("log"), "read_text"):
            lines.append(f"log tail of the hub:\n{value['log'].read_text()[-3000:]}")
    if lines:
        report.sections.append(("labstack: evidence of the failure", "\n".join(lines)))

def _unit_tests_first(items):
    # Stable sort: everything under tests/unit before the image tests, so a broken graph fails in seconds.
    items.sort(key=lambda item: 0 if "/tests/unit/" in str(item.path) else 1)


def pytest_addoption(parser):
    group = parser.getgroup("labstack")
    group.addoption("--image", action="append", default=[], metavar="NAME=REF",
                    help="probe this image for NAME (a spec such as code-server or rstudio+code-server) instead of "
                         "building it; what `build.py test` passes (repeatable)")
    group.addoption("--labstack-settings", metavar="FILE",
                    help="the build settings `build.py test` built the images with (JSON), for the variants tests build")


# Where a run's minutes go, by module (setup, call and teardown summed, module fixtures included):
# printed at the end of every run, so a CI log shows which module to make faster.
_MODULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def _seconds_by_module(terminalreporter):
    if not _MODULE_SECONDS:
        return
    terminalreporter.section("seconds by module")
    for module, seconds in sorted(_MODULE_SECONDS.items(), key=lambda item: -item[1]):
        if seconds >= 1:
            terminalreporter.write_line(f"{seconds:8.1f}s  {module}")
