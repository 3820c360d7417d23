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


# Where a run's minutes go, by module (setup, call and teardown summed, module fixtures included):
# printed at the end of every run, so a CI log shows which module to make faster.
_MODULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _MODULE_SECONDS:
        return
    terminalreporter.section("seconds by module")
    for module, seconds in sorted(_MODULE_SECONDS.items(), key=lambda item: -item[1]):
        if seconds >= 1:
            terminalreporter.write_line(f"{seconds:8.1f}s  {module}")
