"""Builds side by side (the test lanes, a bake beside them, an admin's two terminals) leave each other
alone. A build moves an image's tag only onto the finished image, labelled with the versions measured in
it: whoever reads the tag meanwhile (a test in the lane beside, a hub pulling, `docker run`) gets the image
it named before or the labelled one, never the build's unlabelled output, and no temporary tag stays. A
build stages the files of its own layers only: what another build staged for its layers stays.

The walkthrough's declared hello layer (tests/fixtures/hello-declared), as a layer named for this test
alone, is built on the base image under test with a file no build has seen, so that its own step is
built anew rather than taken from the cache."""
import shutil
import threading
import time
import uuid
from dataclasses import replace

import docker.errors

from labstack import REPO_ROOT
from labstack.builder import build_spec
from labstack.staging import STAGE_ROOT
from labstack.engine import remove_image
from labstack.graph import images_dir, load_graph
from labstack.versions import LABELLED_FROM
from probes import all_tags

OWN_LAYER = "tagcheck"  # a repository no other test builds: the lanes beside build and tag meanwhile


def test_a_build_moves_its_tag_only_to_the_labelled_image(image, engine, settings, tmp_path):
    layers = tmp_path / "layers"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "hello-declared", layers / OWN_LAYER)
    (layers / OWN_LAYER / "site" / "stamp.txt").write_text(uuid.uuid4().hex)
    image("base")  # built (or given) before: base's step comes from the cache
    tag = f"smoke-{uuid.uuid4().hex[:6]}"
    target = f"labstack/{OWN_LAYER}:{tag}"
    seen: list[str] = []  # the image IDs the tag named, in order
    failures: list[str] = []
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 900  # bounded as the build is
        while True:
            finished = done.is_set()  # then one look more: the tag as the build left it
            try:
                found = engine.images.get(target)
                if not seen or seen[-1] != found.id:
                    seen.append(found.id)
            except docker.errors.ImageNotFound:
                pass
            except Exception as error:  # the test must not pass on a watcher that stopped looking
                failures.append(repr(error))
                return
            if finished or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        # the tests' own naming: no version tags, which would move a user's (python-3.13.5, ...)
        log: list[str] = []
        build_spec(OWN_LAYER, replace(settings, naming=replace(settings.naming, tag=tag, version_tag="")), log.append,
                   load_graph(images_dir(), layers))
        done.set()
        watcher.join(timeout=10)
        assert any(line.startswith(f"labstack: measured in {target}") for line in log), f"{target} was not built anew"
        assert not failures, f"the watcher failed: {failures}"
        assert seen, f"{target} was never seen"
        # A label is inherited from the image built FROM (base's measured versions), so what tells the
        # labelled image is the build output it was labelled from: the tag must never have named that.
        labelled = engine.images.get(target)
        assert seen == [labelled.id], (f"{target} named {seen}; the image labelled is {labelled.id}, "
                                       f"labelled from the build's output {labelled.labels.get(LABELLED_FROM)}")
        left = sorted(t for t in all_tags(engine) if t.startswith(f"labstack/{OWN_LAYER}:") and t != target)
        assert not left, f"temporary tags left: {left}"
    finally:
        done.set()
        for ref in (target, f"labstack/base:{tag}"):
            try:
                remove_image(ref)
            except docker.errors.APIError:
                pass


def test_a_build_leaves_the_files_staged_for_other_layers(image, settings):
    """The code-server variant's test extension, staged for code-server, stays through a build of base
    (a lane's build beside it): before, every build restaged every layer and took it away."""
    image("base")  # from the cache: what is measured is the staging, which comes first
    staged = STAGE_ROOT / "code-server" / f"side-by-side-{uuid.uuid4().hex[:6]}.vsix"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_text("another build's file")
    tag = f"smoke-{uuid.uuid4().hex[:6]}"
    try:
        build_spec("base", replace(settings, naming=replace(settings.naming, tag=tag, version_tag="")), lambda line: None)
        assert staged.is_file(), f"a build of base removed {staged}, staged for code-server"
    finally:
        staged.unlink(missing_ok=True)
        remove_image(f"labstack/base:{tag}")
