"""Which engine labstack talks to, and where it reaches the ports that engine's containers publish:
the usual ways of naming an engine elsewhere (DOCKER_HOST, a docker context), as the docker CLI reads them."""
import shutil
import subprocess

import pytest

from labstack import LabstackError
from labstack.engine import engine_host, engine_is_local, published_address


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "LABSTACK_ENGINE_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


@pytest.mark.parametrize("host, address", [
    ("unix:///var/run/docker.sock", "127.0.0.1"),
    ("tcp://10.0.0.5:2376", "10.0.0.5"),
    ("ssh://builder@build1.example.org", "build1.example.org"),
    ("ssh://builder@[fd00::5]:2222", "fd00::5"),
])
def test_docker_host_names_the_engine_and_its_address(monkeypatch, host, address):
    monkeypatch.setenv("DOCKER_HOST", host)
    assert engine_host() == host
    assert published_address() == address
    assert engine_is_local() == (address == "127.0.0.1")


def test_an_engine_behind_a_socket_on_another_network_says_its_address(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/labstack-engine26/docker.sock")
    monkeypatch.setenv("LABSTACK_ENGINE_ADDRESS", "172.17.0.2")
    assert published_address() == "172.17.0.2" and not engine_is_local()


def test_no_engine_named_is_the_local_socket():
    assert engine_host() == "unix:///var/run/docker.sock" and engine_is_local()


def docker_context(name: str, host: str) -> None:
    cli = shutil.which("docker") or pytest.skip("no docker CLI here to create a context with (apt-get install docker.io)")
    subprocess.run([cli, "context", "create", name, "--docker", f"host={host}"], check=True, capture_output=True)


def test_a_docker_context_is_followed_as_the_cli_follows_it(monkeypatch):
    docker_context("build1", "tcp://10.9.8.7:2375")
    assert engine_host() == "unix:///var/run/docker.sock"  # created, not in use
    monkeypatch.setenv("DOCKER_CONTEXT", "build1")
    assert engine_host() == "tcp://10.9.8.7:2375" and published_address() == "10.9.8.7"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.1.1:2375")  # DOCKER_HOST wins, as for the CLI
    assert engine_host() == "tcp://10.1.1.1:2375"


def test_the_current_context_of_the_config_is_followed(monkeypatch):
    docker_context("build2", "tcp://10.9.8.6:2375")
    subprocess.run([shutil.which("docker"), "context", "use", "build2"], check=True, capture_output=True)
    assert engine_host() == "tcp://10.9.8.6:2375"


def test_an_unknown_context_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_CONTEXT", "nowhere")
    with pytest.raises(LabstackError, match="docker context 'nowhere' does not exist"):
        engine_host()


def test_run_refuses_an_engine_elsewhere_before_building(build_py):
    result = build_py("run", "code-server", env_extra={"DOCKER_HOST": "tcp://10.0.0.9:2375"})
    assert result.returncode == 2 and "engine is elsewhere (tcp://10.0.0.9:2375)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
