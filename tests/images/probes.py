"""Probes every image shares: what the proxy must serve and refuse."""
from __future__ import annotations

import json

from labstack.smoke import JupyterContainer

# Run inside the image: the server names jupyter-server-proxy should list, read from the image's own
# config (our drop-ins) and the installed packages' entry points, independently of the running server.
EXPECTED_SERVERS_SCRIPT = r"""
import json
from importlib.metadata import entry_points
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("jupyter_server_config.py", path="/etc/jupyter").load_config()
names = set(config.ServerProxy.servers.keys()) if "servers" in config.ServerProxy else set()
names |= {ep.name for ep in entry_points(group="jupyter_serverproxy_servers")}
print(json.dumps(sorted(names)))
"""


def servers_info_names(jupyter: JupyterContainer) -> list[str]:
    response = jupyter.get("/server-proxy/servers-info")
    assert response.status_code == 200, response.text
    return sorted(server["name"] for server in response.json()["server_processes"])


def expected_server_names(jupyter: JupyterContainer) -> list[str]:
    return json.loads(jupyter.exec(["python", "-c", EXPECTED_SERVERS_SCRIPT]).strip().splitlines()[-1])


def process_uids(jupyter: JupyterContainer, pattern: str) -> set[int]:
    """uids of the container's processes whose command line contains pattern."""
    uids = set()
    for line in jupyter.exec(["ps", "-eo", "uid=,args="]).splitlines():
        uid, _, args = line.strip().partition(" ")
        if pattern in args and "ps -eo" not in args:
            uids.add(int(uid))
    return uids


def assert_refused(jupyter: JupyterContainer, path: str) -> None:
    """Without the token, path must neither be served nor upgraded to a websocket."""
    response = jupyter.get(path, token=False)
    assert response.status_code in (302, 401, 403), (path, response.status_code)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"], response.headers["Location"]
    assert jupyter.websocket_status(path, token=False) in (302, 401, 403)
