"""Every pytest run in this checkout loads labstack's test plugin (tests/support/image_tests.py)."""
pytest_plugins = ["image_tests"]
