"""`build.py test`: build each spec with one BuildSettings, then run the image tests against exactly
those images, by hierarchy: a layer's tests run on every image that contains the layer, so a
combination such as rstudio+code-server needs no tests of its own.

One rule says which layer a test module tests: the layer whose folder holds it, in a `tests/` folder
of its own (images/<layer>/tests/test_*.py, or the same in an admin's --layers folder). A declared
layer also gets what every declared layer is tested for (tests/declared/). Helpers the modules share
are in tests/support/, with the pytest plugin that runs them all (image_tests.py).

pytest gets the images as `--image NAME=REF` (as jupyter/docker-stacks' tests take --image) and the
settings as JSON, for the variants a test builds itself (a test extension, a kept CA bundle).
"""
from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from .. import REPO_ROOT, LabstackError
from ..baseimage import resolve_base_image
from ..builder import build_spec
from ..engine import BuildFailed, Log, cancel_builds, client
from ..graph import Graph, Layer
from .lanes import deal, module_seconds, run_lanes
from ..layer_flags import test_fallback
from ..settings import BuildSettings, to_json

DECLARED_TESTS = REPO_ROOT / "tests" / "declared"
SUPPORT = REPO_ROOT / "tests" / "support"
PLUGIN = "image_tests"  # tests/support/image_tests.py
FALLBACK_NOTE = "LABSTACK_TEST_FALLBACK"  # tells the test run's summary what was left out, and why


def default_specs(graph: Graph) -> list[str]:
    """`all`: every layer but migration, and each stackable layer on each of its siblings that labstack
    ships with a Dockerfile. A declared layer (an admin's, or a worked example) is built on its own:
    stacking VS Code on each would double its tests; `build.py build dashboard+code-server` names one."""
    layers = [layer for layer in graph.layers.values() if not layer.migration]
    specs = [layer.name for layer in layers]
    for top in layers:
        if top.stackable:
            specs += [f"{other.name}+{top.name}" for other in layers
                      if other.name != top.name and other.parent == top.parent and not other.stackable
                      and not other.declaration]
    return specs


def app_specs(graph: Graph) -> list[str]:
    """The images `all` builds that serve an app besides JupyterLab: the ones a hub offers as profiles."""
    return [spec for spec in default_specs(graph) if any(app.name != "lab" for app in graph.apps(spec))]


def profile_selections(graph: Graph, specs: list[str]) -> int:
    """How many ways a hub user can start the profiles of `specs`: one per image, one per app of the
    app chooser (every app of those images), one per app that runs alone."""
    apps = {app.name: app for spec in specs for app in graph.apps(spec)}
    return len(specs) + len(apps) + sum(1 for app in apps.values() if app.standalone)


def layers_of(graph: Graph, spec: str) -> list[str]:
    if spec in graph.layers and graph.layers[spec].migration:
        return [spec]
    return [step.layer.name for step in graph.plan(spec)]


def tests_folder(layer: Layer) -> Path:
    return layer.folder / "tests"


def layer_modules(layer: Layer) -> list[str]:
    """The layer's test modules: every test_*.py in its folder's tests/."""
    return [str(path) for path in sorted(tests_folder(layer).glob("test_*.py"))]


def main_module(layer: Layer) -> Path:
    """The module of the layer's own name (test_<layer>.py), the first a reader opens."""
    return tests_folder(layer) / f"test_{layer.name.replace('-', '_')}.py"


def layer_of_module(graph: Graph, module: Path) -> str | None:
    """The layer whose folder holds the module (in its tests/); None for any other module."""
    folder = module.resolve().parent
    for layer in graph.layers.values():
        if tests_folder(layer).resolve() == folder:
            return layer.name
    return None


def is_declared_module(module: Path) -> bool:
    """A module of tests/declared/: what every declared layer is tested for."""
    return module.resolve().parent == DECLARED_TESTS.resolve()


def declared_modules() -> list[str]:
    return [str(path) for path in sorted(DECLARED_TESTS.glob("test_*.py"))]


def sibling_groups(modules: list[str]) -> list[list[str]]:
    """modules grouped by stem: a layer's module with its siblings (test_mig.py with
    test_mig_r.py), in the order of each group's first. Siblings share their layer's engine-wide names
    (migrate's temporary tags), which a lane beside must not see come and go: a group runs in one lane."""
    stems = {Path(module).stem for module in modules}
    groups: dict[str, list[str]] = {}
    for module in modules:
        stem = Path(module).stem
        main = min((other for other in stems if stem == other or stem.startswith(other + "_")), key=len)
        groups.setdefault(main, []).append(module)
    return list(groups.values())


def run_tests(specs: list[str], settings: BuildSettings, graph: Graph, pytest_args: list[str], log: Log,
              lanes: int = 1) -> int:
    everything = specs == ["all"]
    specs = default_specs(graph) if everything else specs
    files: list[str] = []
    for spec in specs:
        layers = layers_of(graph, spec)  # unknown names fail here, before anything is built
        declared = [name for name in layers if graph.layers[name].declaration]
        top = graph.layers[layers[-1]]
        if layers[-1] not in declared and not layer_modules(top):
            raise LabstackError(f"no tests for {spec!r} (expected {tests_folder(top)}/test_*.py)")
        files += [module for name in layers for module in layer_modules(graph.layers[name]) if module not in files]
        if declared:  # their packages and apps, from their image.toml
            files += [module for module in declared_modules() if module not in files]
    wanted: list[str] = []
    for spec in specs:
        layer = graph.layers.get(spec)
        # a layer built from a container (mig) is tested on fixtures made from the images it names
        wanted += [one for one in (layer.test_needs if layer and layer.migration else (spec,)) if one not in wanted]
    images, notes = build_in_waves(wanted, settings, graph, log)
    with tempfile.NamedTemporaryFile("w", prefix="labstack-settings-", suffix=".json") as saved:
        saved.write(to_json(settings))
        saved.flush()
        if everything:
            files = [module for layer in graph.layers.values() for module in layer_modules(layer)] + declared_modules()
        # the plugin by name, and its folder on the path: a layer kept outside the checkout has no conftest
        options = ["-p", PLUGIN, "--labstack-settings", saved.name]
        options += [arg for name, ref in images.items() for arg in ("--image", f"{name}={ref}")]
        shares = deal(sibling_groups(files), lanes, module_seconds())
        if len(shares) > 1:
            log(f"labstack: the tests run in {len(shares)} lanes, side by side: " +
                "; ".join(f"[{number}] " + " ".join(Path(module).stem.removeprefix("test_") for module in share)
                          for number, share in enumerate(shares, 1)))
        commands = [[sys.executable, "-m", "pytest", *share, *options, *pytest_args] for share in shares]
        env = dict(os.environ, **({FALLBACK_NOTE: "; ".join(notes)} if notes else {}))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), str(SUPPORT), env.get("PYTHONPATH")]))
        return run_lanes(commands, env, REPO_ROOT)


def waves(specs: list[str], graph: Graph) -> list[list[str]]:
    """The specs grouped by how many layers each has, fewest first: every image a spec is built on is
    another spec's, with fewer layers, so it is built by an earlier wave (or from the cache, at once)."""
    by_size: dict[int, list[str]] = {}
    for spec in specs:
        by_size.setdefault(len(graph.plan(spec)), []).append(spec)
    return [by_size[size] for size in sorted(by_size)]


def build_in_waves(specs: list[str], settings: BuildSettings, graph: Graph, log: Log) -> tuple[dict[str, str], list[str]]:
    """Build each spec ({step spec: ref} of everything built, the fallback notes): a wave's specs at
    once, on the same engine. While one build downloads, or runs a step on one core (code-server's npm
    install, rstudio's apt), another has the CPU that would sit idle. Each line a build prints says
    which spec it is, when builds share the log. Ctrl-C, or one build failing, cancels the others."""
    images: dict[str, str] = {}
    notes: list[str] = []
    grouped = waves(specs, graph)
    if len(grouped[0]) > 1:  # the base image pulled or bootstrapped once, not by two builds at once
        client()
        resolve_base_image(settings.base_image, log)
    for wave in grouped:
        def one(spec: str):
            prefixed = log if len(wave) == 1 else (lambda line: log(f"[{spec}] {line}"))
            return spec, build_with_fallback(spec, settings, graph, prefixed)
        with ThreadPoolExecutor(max_workers=len(wave)) as pool:
            futures = [pool.submit(one, spec) for spec in wave]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception():
                        raise future.exception()
            except BaseException:
                cancel_builds()
                raise
            results = [future.result() for future in futures]
        for spec, (built, _, note) in results:
            notes += [note] if note else []
            for step_spec, image in zip(_step_specs(graph, spec), built):
                images[step_spec] = image.tags[0]
    return images, notes


def _step_specs(graph: Graph, spec: str) -> list[str]:
    """The spec each built step answers to: its parents by name, the last one by the spec itself."""
    steps = graph.plan(spec)
    return [step.layer.name for step in steps[:-1]] + [spec]


def build_with_fallback(spec: str, settings: BuildSettings, graph: Graph, log: Log):
    """Build spec; where a layer names a failure its tests may work around (RStudio Server out of reach)
    and nobody chose, build with that layer's switch instead. (the steps built, the flag used or None,
    a one-line note saying why). The settings keep the switch, for what is built after."""
    try:
        return build_spec(spec, settings, log, graph), None, ""
    except BuildFailed as error:
        flag = test_fallback(graph, str(error), settings.layer_args)
        if flag is None:
            raise
        settings.layer_args.setdefault(flag.layer, {}).update(dict(flag.build_args))
        note = f"{flag.layer} built {flag.flag}: {str(error).split('failed: ', 1)[-1].strip()[:160]}"
        log(f"labstack: {note}; its tests run on that image, and say so, as nobody chose")
        return build_spec(spec, settings, log, graph), flag, note
