"""Build a spec's steps in order, each layer's Dockerfile on the image built before it."""
from __future__ import annotations

import fcntl
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import LabstackError, __version__
from .baseimage import resolve_base_image
from .engine import BuildRequest, Log, build, client
from .graph import BuildStep, Graph, images_dir, load_graph
from .settings import BuildSettings, check_ca_bundle
from .staging import stage_layer
from .tags import label_measured_versions, untag

@dataclass
class BuiltImage:
    name: str
    tags: list[str]
    size_bytes: int
    seconds: float


def build_spec(spec: str, settings: BuildSettings, log: Log, graph: Graph | None = None) -> list[BuiltImage]:
    graph = graph or load_graph(images_dir())
    steps = graph.plan(spec)  # bad specs fail here, before anything is pulled or built
    for name in settings.no_cache_layers:
        graph.layer(name)
    ca_bundle = check_ca_bundle(settings.ca_bundle)
    for layer, files in settings.layer_files.items():
        for source in files:
            if not source.is_file():
                raise LabstackError(f"no such file: {source}")
    client()  # fail early and clearly if no engine answers
    if ca_bundle and settings.ca_bundle_from_host:
        log(f"labstack: the build trusts the host's CA bundle {ca_bundle} (a build secret, in no layer; "
            f"--no-host-ca to stop)")
    base_ref = resolve_base_image(settings.base_image, log)
    # Only the layers this build reads: another build beside it (a test's variant with an extension in
    # code-server's folder, a lane's build of base) keeps the files it staged for its own layers.
    for step in steps:
        stage_layer(step.layer, settings.layer_files.get(step.layer.name, []))
    built: list[BuiltImage] = []
    refs: dict[str, str] = {}
    for number, step in enumerate(steps, 1):
        parent_ref = refs[step.parent_image] if step.parent_image else base_ref
        tags = settings.naming.tags(step.image)
        log(f"labstack: [{number}/{len(steps)}] building {tags[0]} from {parent_ref} "
            f"({'rendered from ' if step.layer.declaration else ''}{step.layer.folder.name}/"
            f"{'image.toml' if step.layer.declaration else 'Dockerfile'})")
        started = time.monotonic()
        root_ref = refs.get(steps[0].image, parent_ref)
        # Built under a tag of its own: the image's tags move only to the labelled image, so nobody
        # (a test in the lane beside, a hub pulling) reads them on the unlabelled one, and a build that
        # fails or is interrupted before it is labelled leaves them where they were.
        repository = settings.naming.repository(step.image)
        building = f"{repository}:building-{secrets.token_hex(6)}"
        with one_build_at_a_time(step.image):
            try:
                build(_request(step, parent_ref, root_ref, [building], settings, ca_bundle, name=tags[0]), log)
                # a build with no version tag (a test's variant, a test run by hand) takes only its own tag:
                # the measured ones (python-3.13.5, ...) name a user's image, which it must not replace
                tags = label_measured_versions(tags, [s.layer for s in steps[:number]], repository, log,
                                               add_tags=bool(settings.naming.version_tag), built_ref=building)
            finally:
                untag(building)
        seconds = time.monotonic() - started
        size = client().images.get(tags[0]).attrs["Size"]
        log(f"labstack: built {tags[0]} in {seconds:.0f}s, {size / 1e6:.0f} MB")
        built.append(BuiltImage(step.image, tags, size, seconds))
        refs[step.image] = tags[0]
    return built


@contextmanager
def one_build_at_a_time(image: str):
    """Builds of one image take turns, across the processes of this machine. Two at once (two test
    lanes, a warm cache) make the very same unlabelled image; the first to remove its `building-` tag
    deletes that image while the other's BuildKit is still naming it, and the other build fails
    ("failed to get digest ... no such file or directory", seen in a warm two-lane `make test`)."""
    folder = Path(tempfile.gettempdir()) / "labstack-build-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{image.replace('/', '_')}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        yield


def step_build_args(step: BuildStep, settings: BuildSettings, parent_ref: str, root_ref: str) -> dict[str, str]:
    """The build arguments of one step, for `build` and `bake` alike; --build-arg comes last and wins."""
    args = {
        step.layer.source_arg: parent_ref,
        # builder stages need only the OS, which the chain's root image has (see code-server's Dockerfile)
        "BUILDER_IMAGE": root_ref,
        "LABSTACK_VERSION": __version__,
        "KEEP_CA_BUNDLE": "1" if settings.keep_ca_bundle else "0",
    }
    args.update(settings.layer_args.get(step.layer.name, {}))
    args.update(settings.build_args)
    return args


def _request(step: BuildStep, parent_ref: str, root_ref: str, tags: list[str], settings: BuildSettings,
             ca_bundle: Path | None, name: str = "") -> BuildRequest:
    return BuildRequest(
        name=name,
        dockerfile=step.layer.dockerfile,
        context=step.layer.context,
        tags=tags,
        build_args=step_build_args(step, settings, parent_ref, root_ref),
        ca_bundle=ca_bundle,
        network=settings.network,
        no_cache=settings.no_cache or step.layer.name in settings.no_cache_layers,
        platform=settings.platform,
    )
