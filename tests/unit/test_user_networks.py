"""The jupyterhub_config.py part `build.py dockerspawner` prints (labstack/user_networks.py), loaded as a
hub loads its config, with DockerSpawner's own code: each user's network, and what a hub in a container
needs. The networks themselves are made and kept apart by a real engine in
images/code-server/tests/test_user_networks.py."""
import asyncio
import ipaddress
from unittest import mock

import pytest
from traitlets.config import Config

pytest.importorskip("dockerspawner", reason="dockerspawner is not installed (pip install -r requirements-dev.txt)")


def load(*args, build_py):
    """Run `build.py dockerspawner ARGS` and load its output as jupyterhub_config.py is loaded."""
    result = build_py("dockerspawner", *args)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    config = Config()
    namespace = {"c": config}
    exec(compile(out, "jupyterhub_config.py", "exec"), namespace)
    return namespace, config, out


def new_spawner(namespace, config, user_name="alice"):
    user = mock.Mock()
    user.name = user_name
    user.url = f"/user/{user_name}/"
    return namespace["LabstackDockerSpawner"](user=user, config=config, _mock=True)


def test_each_user_gets_a_network_of_their_own(build_py):
    namespace, config, _ = load(build_py=build_py)
    from dockerspawner import DockerSpawner

    assert config.JupyterHub.spawner_class is namespace["LabstackDockerSpawner"]
    assert issubclass(config.JupyterHub.spawner_class, DockerSpawner)
    config.DockerSpawner.prefix = "hub"
    alice, bob = new_spawner(namespace, config, "alice"), new_spawner(namespace, config, "bob@example.org")
    assert alice.network_name == "hub-net-alice"
    assert bob.network_name.startswith("hub-net-bob") and bob.network_name != alice.network_name
    # a hub on the host reaches the server where DockerSpawner publishes it (host_ip), as before
    assert alice.use_internal_ip is False
    assert "hub_ip" not in config.JupyterHub


def test_a_hub_in_a_container_joins_each_network_and_is_found_by_name(build_py):
    namespace, config, text = load("--hub-container", "jupyterhub", build_py=build_py)
    alice = new_spawner(namespace, config)
    assert alice.hub_container == "jupyterhub"
    assert alice.use_internal_ip is True  # the server's address on alice's network
    assert config.JupyterHub.hub_ip == "0.0.0.0"  # one address a network: listen on all of them
    assert config.JupyterHub.hub_connect_ip == "jupyterhub"


def test_an_admin_setting_still_wins(build_py):
    namespace, config, _ = load(build_py=build_py)
    config.DockerSpawner.network_name = "shared"
    assert new_spawner(namespace, config).network_name == "shared"


def test_a_subnet_is_the_first_free_28_of_the_pool(build_py):
    namespace, config, _ = load("--subnet-pool", "10.99.0.0/16", build_py=build_py)
    alice = new_spawner(namespace, config)
    taken = [{"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}},
             {"IPAM": {"Config": [{"Subnet": "10.99.0.0/28"}, {"Subnet": "fd00::/64"}]}},
             {"IPAM": {"Config": [{"Subnet": "10.99.0.16/29"}]}},  # overlaps the second /28
             {"IPAM": None}]

    async def docker(method, *args, **kwargs):
        assert method == "networks"
        return taken

    alice.docker = docker
    assert asyncio.run(alice._labstack_free_subnet()) == "10.99.0.32/28"
    taken.append({"IPAM": {"Config": [{"Subnet": "10.99.0.0/16"}]}})
    with pytest.raises(RuntimeError, match="no free /28 left in 10.99.0.0/16 for alice"):
        asyncio.run(alice._labstack_free_subnet())


@pytest.mark.parametrize("pool, message", [
    ("10.0.0.0/30", "--subnet-pool 10.0.0.0/30: smaller than one /28 network"),
    ("10.0.0.1/16", "--subnet-pool 10.0.0.1/16: not a network address"),
    ("nonsense", "--subnet-pool nonsense: not a network address"),
])
def test_a_bad_pool_is_refused_in_one_line(build_py, pool, message):
    result = build_py("dockerspawner", "--subnet-pool", pool)
    err = result.stderr
    assert result.returncode == 2 and result.stdout == ""
    assert err.startswith(f"build.py: error: {message}") and err.count("\n") == 1


def test_the_rendered_pool_is_the_normalised_network(build_py):
    _, _, text = load("--subnet-pool", "10.99.0.0/16", build_py=build_py)
    assert "'10.99.0.0/16'" in text
    assert ipaddress.ip_network("10.99.0.0/16").num_addresses // 16 == 4096  # the docs' figure
