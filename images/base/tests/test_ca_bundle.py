"""The build's CA bundle: trusted during the build only, unless --keep-ca-bundle asks to keep it."""
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from labstack.builder import build_spec
from labstack.engine import remove_image
from labstack.tags import Naming
from tracked import TestContainer

PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def certificates(text: str) -> set[str]:
    return {"".join(block.split()) for block in PEM.findall(text)}


@pytest.fixture(scope="module")
def extra_certificates(image, engine, settings):
    """Certificates in the build's CA bundle that Debian does not ship (e.g. the intercepting proxy's)."""
    bundle = settings.ca_bundle  # --ca-bundle / LABSTACK_CA_BUNDLE, else the host's own
    if not bundle:
        pytest.skip("no CA bundle was given to the build (no LABSTACK_CA_BUNDLE, and the host has none or "
                    "LABSTACK_NO_HOST_CA=1)")
    given = certificates(Path(bundle).read_text())
    shipped = certificates(read_bundle(image("base")))
    extra = given - shipped
    if not extra:
        pytest.skip("the given CA bundle holds only certificates Debian already ships: nothing to tell apart")
    return extra


def read_bundle(image: str) -> str:
    return run_in(image, ["cat", "/etc/ssl/certs/ca-certificates.crt"])


def run_in(image: str, cmd: list[str]) -> str:
    with TestContainer(image, network_mode="none", command=["sleep", "300"], entrypoint=[]) as tracked:
        tracked.run_detached()
        return tracked.exec(cmd)


# Prints the CA certificates that requests would verify an HTTPS request with, as a notebook would.
REQUESTS_CA_FILE = ["python", "-c", "import requests; settings = requests.Session().merge_environment_settings("
                    "'https://pypi.org', {}, None, None, None); print(open(settings['verify']).read())"]


def test_bundle_is_not_kept_by_default(image, extra_certificates):
    assert not extra_certificates & certificates(read_bundle(image("base")))


def test_keep_ca_bundle_adds_it_to_the_trust_store(extra_certificates, settings):
    settings = replace(settings, keep_ca_bundle=True,
                       naming=Naming(owner="labstack", tag="smoke-keepca"))
    built = build_spec("base", settings, lambda line: None)
    try:
        assert extra_certificates <= certificates(read_bundle(built[-1].tags[0]))
        # and Python's requests in the Jupyter environment verifies with it (not certifi's own list)
        assert extra_certificates <= certificates(run_in(built[-1].tags[0], REQUESTS_CA_FILE))
    finally:
        for tag in built[-1].tags:
            remove_image(tag)


@pytest.fixture(scope="module")
def private_base(base_ref, tmp_path_factory):
    """The same Debian with one small file more. Builds on it share no build cache with the other tests':
    their fresh networked steps (--no-cache-layer) neither come from it nor replace what the other tests'
    builds take from it (which made every later build of base come out anew, and every image on top of
    it rebuild from scratch: the code-server variants took six minutes). A label alone is not enough:
    BuildKit keys the steps on the base's layers, not on its config (seen: the same poisoning)."""
    from labstack.engine import BuildRequest, build

    folder = tmp_path_factory.mktemp("private-base")
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo 'labstack test_ca_bundle' > /etc/labstack-test-base\n")
    tag = "labstack-test/debian:ca-bundle"
    build(BuildRequest(dockerfile=folder / "Dockerfile", context=folder, tags=[tag],
                       build_args={"BASE_IMAGE": base_ref}), lambda line: None)
    yield tag
    remove_image(tag)


def test_host_bundle_is_the_default_and_no_host_ca_turns_it_off(engine, private_base):
    """Without --ca-bundle a build trusts the host's own bundle (in no layer); --no-host-ca stops that.
    Here TLS is intercepted and the host trusts the proxy, so the first builds and the second can't."""
    from labstack.settings import host_ca_bundle
    from layers_scan import find_in_image
    from probes import all_tags, build_py, new_tags

    host = host_ca_bundle()
    if host is None:
        pytest.skip("this host has no system CA bundle at any of the usual places")
    env = {k: v for k, v in os.environ.items() if k not in ("LABSTACK_CA_BUNDLE", "LABSTACK_NO_HOST_CA")}
    tag = "smoke-hostca"
    # The build cache does not know secrets: each build runs base's networked steps anew (--no-cache-layer;
    # another release of a pinned package would now conflict with the lock).
    args = ["build", "base", "--tag", tag, "--network", "host", "--no-cache-layer", "base", "--base-image", private_base]
    try:
        default = build_py(*args, env=env)
        assert default.returncode == 0, default.stderr[-3000:]
        assert f"the build trusts the host's CA bundle {host}" in default.stderr
        # what the host trusts beyond the public CAs its ca-certificates package ships: its own
        # additions (here the intercepting proxy's CA, from /usr/local/share/ca-certificates)
        public = set()
        for path in Path("/usr/share/ca-certificates").rglob("*.crt"):
            public |= certificates(path.read_text())
        extra = certificates(host.read_text()) - public
        # a line from the signature of each such certificate (unique to it): in no layer, not in the config
        needles = [block.splitlines()[-3] for block in PEM.findall(host.read_text())
                   if "".join(block.split()) in extra]
        if needles:  # (a host with only public CAs has nothing of its own to leak)
            assert find_in_image(f"labstack/base:{tag}", needles, []) == []
    finally:
        remove_image(f"labstack/base:{tag}")
    before = all_tags(engine)
    without = build_py(*args, "--no-host-ca", env=env)
    remove_image(f"labstack/base:{tag}")
    if without.returncode == 0:
        pytest.skip("TLS is not intercepted here: the build needs no CA bundle, so --no-host-ca changes nothing to see")
    assert without.returncode == 2
    assert "trusts the host's CA bundle" not in without.stderr
    assert "TLS certificate rejected" in without.stderr.strip().splitlines()[-1]
    assert new_tags(engine, before, f"labstack/base:{tag}") == []
