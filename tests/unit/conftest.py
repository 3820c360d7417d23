import contextlib
import importlib.util
import io
import os
import subprocess

import pytest

from labstack import REPO_ROOT, engine

# build.py, imported once: the unit tests call its main() in this process (a subprocess each costs ~0.4 s)
_spec = importlib.util.spec_from_file_location("labstack_build_cli", REPO_ROOT / "build.py")
BUILD = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BUILD)
SETTINGS_FROM_ENVIRONMENT = ("REGISTRY", "OWNER", "TAG", "BASE_IMAGE")


@pytest.fixture
def build_py():
    """Run build.py's main() with a clean slate: no engine, and none of the settings it reads from the
    environment. Returns what a subprocess would: its exit code, and what it wrote to stdout and stderr.
    The whole environment is put back after each call: main() also sets variables for the tests it runs
    (LABSTACK_LAYERS)."""
    def run(*args, env_extra=None):
        saved = dict(os.environ)
        try:
            for name in list(os.environ):
                if name.startswith("LABSTACK_") or name in SETTINGS_FROM_ENVIRONMENT:
                    del os.environ[name]
            os.environ.update({"DOCKER_HOST": "unix:///nonexistent/docker.sock", **(env_extra or {})})
            engine.client.cache_clear()  # the engine is looked up afresh, as a new process would
            engine.build_client.cache_clear()
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    code = BUILD.main(list(args))
                except SystemExit as exit:  # argparse: --help (0), a usage error (2)
                    if isinstance(exit.code, str):
                        print(exit.code, file=stderr)
                    code = exit.code if isinstance(exit.code, int) else (1 if exit.code else 0)
        finally:
            engine.client.cache_clear()
            engine.build_client.cache_clear()
            os.environ.clear()
            os.environ.update(saved)
        return subprocess.CompletedProcess(["build.py", *args], code, stdout.getvalue(), stderr.getvalue())
    return run
