"""labstack: build, boot and probe layered Jupyter images that serve web apps through jupyter-server-proxy."""
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent


class LabstackError(Exception):
    """A problem with the user's input or environment: build.py prints it on one line and exits 2."""
