import os
import subprocess
import sys

import pytest

from labstack import REPO_ROOT


@pytest.fixture
def build_py():
    """Run build.py with a clean slate: no engine, and none of the settings it reads from the environment."""
    def run(*args, env_extra=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LABSTACK_") and k not in ("REGISTRY", "OWNER", "TAG", "BASE_IMAGE")}
        env.update({"DOCKER_HOST": "unix:///nonexistent/docker.sock", **(env_extra or {})})
        return subprocess.run([sys.executable, str(REPO_ROOT / "build.py"), *args],
                              capture_output=True, text=True, timeout=60, env=env)
    return run
