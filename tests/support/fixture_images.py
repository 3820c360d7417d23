"""Images the tests build from tests/fixtures/<name>/ (a user's own apps, a hub in a container), tagged
labstack-test/<name>:smoke: a module that needs one builds it (the engine's cache makes the second cheap)."""
from __future__ import annotations

from labstack import REPO_ROOT
from labstack.engine import BuildRequest, build

FIXTURES = REPO_ROOT / "tests" / "fixtures"


def build_fixture_image(name: str, build_args: dict, settings) -> str:
    context = FIXTURES / name
    tag = f"labstack-test/{name}:smoke"
    build(BuildRequest(dockerfile=context / "Dockerfile", context=context, tags=[tag], build_args=build_args,
                       ca_bundle=settings.ca_bundle, network=settings.network), lambda line: None)
    return tag
