"""Shared pytest setup: unit tests (no engine) run first, then the image tests."""


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: everything under tests/unit before tests/images, so a broken graph fails in seconds.
    items.sort(key=lambda item: 0 if "/tests/unit/" in str(item.path) else 1)


def pytest_addoption(parser):
    group = parser.getgroup("labstack")
    group.addoption("--image", action="append", default=[], metavar="NAME=REF",
                    help="probe this image for NAME (a spec such as code-server or rstudio+code-server) instead of "
                         "building it; what `build.py test` passes (repeatable)")
    group.addoption("--labstack-settings", metavar="FILE",
                    help="the build settings `build.py test` built the images with (JSON), for the variants tests build")
