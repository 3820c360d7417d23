"""Push to and pull from a real registry (Debian's docker-registry on loopback), then boot the pulled image."""
import pytest
import requests

from labstack.engine import remove_image
from labstack.tags import Naming
from jupyter_container import JupyterContainer
from probes import build_py
from services import start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    service, address = start_registry(tmp_path_factory.mktemp("registry"))
    yield address
    service.stop()


MANIFEST_TYPES = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json",
                            "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"])


def test_push_then_pull_and_boot(registry, image, engine, tmp_path):
    image("base")  # built (or cached) under the smoke tag
    naming = Naming.from_environment(registry=registry, tag="smoke")
    built = build_py("build", "base", "--registry", registry, "--tag", "smoke", "--network", "host")
    assert built.returncode == 0, built.stderr[-2000:]
    pushed = build_py("push", "base", "--registry", registry, "--tag", "smoke")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    labels = engine.images.get(naming.tags("base")[0]).labels
    # and the tags of the versions measured in it, which a profile pins
    tags = naming.tags("base") + [f"{naming.repository('base')}:{prefix}-{labels[f'io.labstack.{name}.version']}"
                                  for name, prefix in (("python", "python"), ("jupyterlab", "lab"), ("jupyterhub", "hub"))]
    assert pushed.stdout.split() == tags

    assert "labstack/base" in requests.get(f"http://{registry}/v2/_catalog", timeout=10).json()["repositories"]
    listed = requests.get(f"http://{registry}/v2/labstack/base/tags/list", timeout=10).json()["tags"]
    assert {tag.split(":")[-1] for tag in tags} <= set(listed)

    ref = naming.tags("base")[0]
    for tag in tags:
        remove_image(tag)
    try:
        engine.images.pull(ref)
        with JupyterContainer(ref) as jupyter:
            assert jupyter.get("/lab").status_code == 200
            assert jupyter.exec(["id", "-u"]).strip() == "1000"
        # pushed and pulled: `build.py binder` writes FROM by the digest the registry serves, not the tag
        written = build_py("binder", "base", "--registry", registry, "--tag", "smoke", "--repo", str(tmp_path))
        assert written.returncode == 0, written.stderr
        digest = requests.get(f"http://{registry}/v2/labstack/base/manifests/smoke", timeout=10,
                              headers={"Accept": MANIFEST_TYPES}).headers["Docker-Content-Digest"]
        assert f"FROM {registry}/labstack/base@{digest}\n" in (tmp_path / "binder" / "Dockerfile").read_text()
    finally:
        for tag in tags:
            remove_image(tag)


def test_push_of_an_unbuilt_image_is_a_clear_error(registry):
    result = build_py("push", "base", "--registry", registry, "--tag", "never-built")
    assert result.returncode == 2
    assert "build it first" in result.stderr.strip().splitlines()[-1]
