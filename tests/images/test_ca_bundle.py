"""The build's CA bundle: trusted during the build only, unless --keep-ca-bundle asks to keep it."""
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import settings_from_environment
from labstack.builder import build_spec
from labstack.engine import remove_image
from labstack.naming import Naming
from labstack.smoke import TrackedContainer

PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def certificates(text: str) -> set[str]:
    return {"".join(block.split()) for block in PEM.findall(text)}


@pytest.fixture(scope="module")
def extra_certificates(image, engine):
    """Certificates in the build's CA bundle that Debian does not ship (e.g. the intercepting proxy's)."""
    bundle = os.environ.get("LABSTACK_CA_BUNDLE")
    if not bundle:
        pytest.skip("no CA bundle was given to the build (LABSTACK_CA_BUNDLE is unset)")
    given = certificates(Path(bundle).read_text())
    shipped = certificates(read_bundle(image("base")))
    extra = given - shipped
    if not extra:
        pytest.skip("the given CA bundle holds only certificates Debian already ships: nothing to tell apart")
    return extra


def read_bundle(image: str) -> str:
    return run_in(image, ["cat", "/etc/ssl/certs/ca-certificates.crt"])


def run_in(image: str, cmd: list[str]) -> str:
    with TrackedContainer(image, network_mode="none", command=["sleep", "300"], entrypoint=[]) as tracked:
        tracked.run_detached()
        return tracked.exec(cmd)


# Prints the CA certificates that requests would verify an HTTPS request with, as a notebook would.
REQUESTS_CA_FILE = ["python", "-c", "import requests; settings = requests.Session().merge_environment_settings("
                    "'https://pypi.org', {}, None, None, None); print(open(settings['verify']).read())"]


def test_bundle_is_not_kept_by_default(image, extra_certificates):
    assert not extra_certificates & certificates(read_bundle(image("base")))


def test_keep_ca_bundle_adds_it_to_the_trust_store(extra_certificates):
    settings = replace(settings_from_environment(), keep_ca_bundle=True,
                       naming=Naming(owner="labstack", tag="smoke-keepca"))
    built = build_spec("base", settings, lambda line: None)
    try:
        assert extra_certificates <= certificates(read_bundle(built[-1].tags[0]))
        # and Python's requests in the Jupyter environment verifies with it (not certifi's own list)
        assert extra_certificates <= certificates(run_in(built[-1].tags[0], REQUESTS_CA_FILE))
    finally:
        for tag in built[-1].tags:
            remove_image(tag)
