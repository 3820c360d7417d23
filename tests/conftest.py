"""Shared pytest setup: unit tests (no engine) run first, then the image tests."""


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: everything under tests/unit before tests/images, so a broken graph fails in seconds.
    items.sort(key=lambda item: 0 if "/tests/unit/" in str(item.path) else 1)
