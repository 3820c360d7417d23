"""End to end with a real JupyterHub: configurable-http-proxy in front, DockerSpawner launching our image.

The hub spawns the code-server image, which starts jupyterhub-singleuser by itself (start-jupyter sees
JUPYTERHUB_API_TOKEN); the test then reaches /vscode/ through the hub's proxy with a token and is
turned away without one. Everything runs on loopback; the spawned container uses host networking.
"""
import os
import secrets
import sys
import textwrap

import pytest
import requests

from labstack.smoke import answers, free_loopback_port, poll_until, remove_stray_containers
from services import Service, require, wait_for_url

HUB_CONFIG = """
from dockerspawner import DockerSpawner


class HostNetworkDockerSpawner(DockerSpawner):
    # With host networking the server is where we told it to listen (see DockerSpawner's docs).
    async def get_ip_and_port(self):
        return self.ip, self.port


c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = ["{chp}"]
c.JupyterHub.db_url = "sqlite:///{workdir}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "{password}"
c.Authenticator.allowed_users = {{"alice"}}
c.JupyterHub.services = [{{"name": "e2e", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "e2e", "services": ["e2e"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
c.JupyterHub.spawner_class = HostNetworkDockerSpawner
c.DockerSpawner.image = "{image}"
c.DockerSpawner.network_name = "host"
c.DockerSpawner.use_internal_ip = True  # no port bindings: host networking has nothing to publish
c.DockerSpawner.ip = "127.0.0.1"
c.DockerSpawner.port = {server_port}
c.DockerSpawner.prefix = "labstack-e2e"
c.DockerSpawner.remove = True
c.DockerSpawner.extra_create_kwargs = {{"labels": {{"io.labstack.smoke": "1"}}}}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
"""


@pytest.fixture(scope="module")
def hub(image, tmp_path_factory):
    chp = require("configurable-http-proxy", "npm install -g configurable-http-proxy")
    try:
        import dockerspawner  # noqa: F401
        import jupyterhub  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    workdir = tmp_path_factory.mktemp("hub")
    ports = {name: free_loopback_port() for name in ("proxy_port", "hub_port", "proxy_api_port", "server_port")}
    token = secrets.token_hex(16)
    (workdir / "jupyterhub_config.py").write_text(textwrap.dedent(HUB_CONFIG).format(
        workdir=workdir, chp=chp, token=token, password=secrets.token_hex(8), image=image("code-server"),
        **ports))
    service = Service([sys.executable, "-m", "jupyterhub", "-f", str(workdir / "jupyterhub_config.py")],
                      workdir, env=dict(os.environ))
    try:
        url = f"http://127.0.0.1:{ports['proxy_port']}"
        wait_for_url(f"{url}/hub/api", service.process, service.log, timeout=90)
        yield {"url": url, "token": token, "log": service.log, "image": image("code-server")}
    finally:
        service.stop()
        remove_stray_containers()


def api(hub, method, path, **kwargs):
    return requests.request(method, f"{hub['url']}/hub/api{path}", timeout=30,
                            headers={"Authorization": f"token {hub['token']}"}, **kwargs)


@pytest.fixture(scope="module")
def alice(hub):
    assert api(hub, "POST", "/users/alice").status_code in (201, 409)
    spawn = api(hub, "POST", "/users/alice/server")
    assert spawn.status_code in (201, 202), f"{spawn.status_code}:\n{hub['log'].read_text()[-3000:]}"
    poll_until(lambda: api(hub, "GET", "/users/alice").json()["servers"].get("", {}).get("ready"), 180, 1,
               lambda: f"alice's server never got ready:\n{hub['log'].read_text()[-3000:]}")
    yield f"{hub['url']}/user/alice"
    api(hub, "DELETE", "/users/alice/server")


def test_singleuser_server_runs_from_our_image(hub, alice, engine):
    response = requests.get(f"{alice}/api/status", timeout=30, headers={"Authorization": f"token {hub['token']}"})
    assert response.status_code == 200
    container = engine.containers.get("labstack-e2e-alice")
    assert hub["image"] in container.image.tags
    # start-jupyter chose jupyterhub-singleuser because the spawner set JUPYTERHUB_API_TOKEN
    processes = container.exec_run(["ps", "-eo", "uid=,args="]).output.decode()
    assert any(line.split()[0] == "1000" and "jupyterhub-singleuser" in line for line in processes.splitlines())


def test_vscode_through_the_hub(hub, alice):
    headers = {"Authorization": f"token {hub['token']}"}
    response = poll_until(lambda: answers(f"{alice}/vscode/", headers=headers, timeout=30), 120, 1,
                          lambda: f"/vscode/ never answered 200 through the hub:\n{hub['log'].read_text()[-3000:]}")
    assert "vscode-workbench-web-configuration" in response.text


def test_without_token_the_hub_sends_to_login(hub, alice):
    for path in ("/vscode/", "/lab", "/proxy/8080/"):
        response = requests.get(f"{alice}{path}", timeout=30, allow_redirects=False)
        assert response.status_code == 302, path
        assert "/hub/" in response.headers["Location"] and "vscode-workbench" not in response.text
