"""DockerSpawner with a docker network per user: the jupyterhub_config.py part `build.py dockerspawner` prints.

On Docker's default bridge every container can open a connection to every other one, so what a user
starts on 0.0.0.0 (`python3 -m http.server`, Streamlit, `bokeh serve`, Dask's dashboard) answered
every other user's container. Here each user's servers run on a bridge network of that user's own.
Docker drops traffic between two bridge networks, so no other user's container has a route in, on
any port; the hub still reaches each server:
- a hub on the host reaches every bridge directly (the server's port is published on 127.0.0.1), and
  the servers reach the hub's API on the host's address, as before;
- a hub in a container (`hub_container`) is connected to each user's network as it is made, and
  reaches the server by its address there; the servers reach the hub by the hub container's name,
  which Docker's DNS answers on every network the hub joined. The hub then listens on all of its own
  container's addresses, since each user's network gives it another.

Why not one bridge with inter-container traffic off (`enable_icc=false`): its rule drops traffic
between any two containers on that bridge, the hub's container included, so a hub in a container
could no longer reach any server. docs/security.md says more.

Each network is /28 from `subnet_pool` when given (4096 users in a /16), else from Docker's own
address pools, which hold about 30 networks unless the engine's `default-address-pools` is set.
"""
from __future__ import annotations

import ipaddress

NETWORK_LABEL = "io.labstack.user-network"  # each user network carries it, its value the user's name

SPAWNER = '''\
# labstack: each user's servers on a docker network of the user's own, so that no other user's
# container can open a connection to them on any port: Docker drops traffic between two bridges.
# (labstack.user_networks says why; docs/security.md what is proven.)
import asyncio as _labstack_asyncio
import ipaddress as _labstack_ipaddress

import docker.errors as _labstack_docker_errors
import docker.types as _labstack_docker_types
from dockerspawner import DockerSpawner as _LabstackDockerSpawnerBase
from traitlets import Unicode as _LabstackUnicode, default as _labstack_default


class LabstackDockerSpawner(_LabstackDockerSpawnerBase):
    hub_container = _LabstackUnicode({hub_container!r}, config=True,
        help="The hub's own container when the hub runs in one: joined to each user's network.")
    subnet_pool = _LabstackUnicode({subnet_pool!r}, config=True,
        help="Cut each user's network (/28) from this pool; empty: Docker's own address pools.")
    _labstack_locks = {{}}  # one lock a network: its user's servers start and stop one at a time

    @_labstack_default("network_name")
    def _labstack_network_name(self):
        return f"{{self.prefix}}-net-{{self.escaped_name}}"

    @_labstack_default("use_internal_ip")
    def _labstack_use_internal_ip(self):
        # a hub in a container reaches the server on the user's network; one on the host, on loopback
        return bool(self.hub_container)

    def _labstack_lock(self):
        return self._labstack_locks.setdefault(self.network_name, _labstack_asyncio.Lock())

    async def start(self):
        async with self._labstack_lock():
            await self._labstack_network_up()
            return await super().start()

    async def stop(self, now=False):
        async with self._labstack_lock():
            await super().stop(now=now)
            if self.remove:  # a kept (stopped) container still names the network
                await self._labstack_network_down()

    async def _labstack_network_up(self):
        name = self.network_name
        try:
            network = await self.docker("inspect_network", name)
        except _labstack_docker_errors.NotFound:
            labels = {{**self.extra_create_kwargs.get("labels", {{}}), {label!r}: self.user.name}}
            ipam = None
            if self.subnet_pool:
                async with self._labstack_locks.setdefault("", _labstack_asyncio.Lock()):
                    subnet = await self._labstack_free_subnet()
                    ipam = _labstack_docker_types.IPAMConfig(pool_configs=[_labstack_docker_types.IPAMPool(subnet=subnet)])
                    await self.docker("create_network", name, driver="bridge", labels=labels, ipam=ipam,
                                      check_duplicate=True)
            else:
                await self.docker("create_network", name, driver="bridge", labels=labels, check_duplicate=True)
            self.log.info("labstack: made network %s for %s", name, self.user.name)
            network = await self.docker("inspect_network", name)
        if self.hub_container and not any(
                endpoint.get("Name") == self.hub_container for endpoint in (network.get("Containers") or {{}}).values()):
            try:
                await self.docker("connect_container_to_network", self.hub_container, name)
            except _labstack_docker_errors.APIError as error:
                if "already exists" not in str(error):  # joined by a spawn this lock did not cover
                    raise

    async def _labstack_free_subnet(self):
        taken = []
        for network in await self.docker("networks"):
            for pool in (network.get("IPAM") or {{}}).get("Config") or []:
                if pool.get("Subnet"):
                    taken.append(_labstack_ipaddress.ip_network(pool["Subnet"], strict=False))
        for subnet in _labstack_ipaddress.ip_network(self.subnet_pool).subnets(new_prefix=28):
            if not any(subnet.overlaps(other) for other in taken if other.version == subnet.version):
                return str(subnet)
        raise RuntimeError(f"labstack: no free /28 left in {{self.subnet_pool}} for {{self.user.name}}'s network")

    async def _labstack_network_down(self):
        name = self.network_name
        try:
            network = await self.docker("inspect_network", name)
        except _labstack_docker_errors.NotFound:
            return
        others = [endpoint.get("Name") for endpoint in (network.get("Containers") or {{}}).values()
                  if endpoint.get("Name") != self.hub_container]
        if others:  # another of the user's servers still runs on it
            return
        try:
            if self.hub_container:
                await self.docker("disconnect_container_from_network", self.hub_container, name)
            await self.docker("remove_network", name)
        except _labstack_docker_errors.APIError as error:
            self.log.warning("labstack: network %s kept: %s", name, error)


c.JupyterHub.spawner_class = LabstackDockerSpawner
'''

HUB_IN_A_CONTAINER = '''\
# The hub runs in the container {hub_container!r}: it listens on each address its container gets (one
# per user's network) and the servers find it by that name, which each user's network resolves.
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = {hub_container!r}
'''


def check_subnet_pool(pool: str) -> str:
    """A pool the /28 networks can be cut from: an IPv4 or IPv6 network of /28 or larger."""
    from . import LabstackError

    try:
        network = ipaddress.ip_network(pool)
    except ValueError as error:
        raise LabstackError(f"--subnet-pool {pool}: not a network address ({error})") from None
    if network.prefixlen > 28:
        raise LabstackError(f"--subnet-pool {pool}: smaller than one /28 network")
    return str(network)


def spawner_config(hub_container: str = "", subnet_pool: str = "") -> str:
    """The jupyterhub_config.py part: LabstackDockerSpawner as the spawner class, and for a hub in a
    container the two hub settings that go with it. DockerSpawner's own settings (image, host_ip...)
    are the admin's, as before: the class reads them from `c.DockerSpawner`."""
    text = SPAWNER.format(hub_container=hub_container, subnet_pool=subnet_pool and check_subnet_pool(subnet_pool),
                          label=NETWORK_LABEL)
    if hub_container:
        text += "\n" + HUB_IN_A_CONTAINER.format(hub_container=hub_container)
    return text
