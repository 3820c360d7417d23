"""A real JupyterHub for the end-to-end tests: configurable-http-proxy in front, dummy authentication,
a service token for the test, and whatever spawner the test configures.

The hub listens on the docker bridge's gateway (this machine's own docker0 address), because the
containers call its API; every request the test makes goes to 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import sys
import textwrap
import threading
from contextlib import contextmanager

import requests
import websocket  # websocket-client

from jupyter_container import free_loopback_port, poll_until
from services import Service, require, wait_for_url

# Every hub the tests run: its state in {workdir}, dummy authentication with one password, and the
# test's own service token (formatted with workdir, password, users and token).
HUB_ACCESS = """
c.JupyterHub.db_url = "sqlite:///{workdir}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "{password}"
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.services = [{{"name": "e2e", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "e2e", "services": ["e2e"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
"""

# The hub on this machine: the proxy on loopback, the hub's API on the bridge's gateway.
HUB_CONFIG = """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "{gateway}"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = ["{chp}"]
""" + HUB_ACCESS


def bridge_gateway(engine) -> str:
    ipam = engine.networks.get("bridge").attrs["IPAM"]["Config"][0]  # the default bridge may omit its Gateway
    return ipam.get("Gateway") or str(ipaddress.ip_network(ipam["Subnet"])[1])


# Both layouts a hub is run in: every user's server on the hub's host, or each user on a subdomain of its own.
LAYOUTS = ["one domain", "subdomains"]
# Per-user subdomains: chromium resolves every *.localhost name to loopback (RFC 6761), so no DNS is
# needed; while such a hub runs, this process resolves them the same way (localhost_names_resolve).
SUBDOMAIN_HOST = "hub.localhost"


_RESOLVING = {"hubs": 0, "original": None}  # one patch, however many hubs run (a module's beside another's)
_RESOLVING_LOCK = threading.Lock()


@contextmanager
def localhost_names_resolve():
    """*.localhost to 127.0.0.1 in this process (requests, websocket-client), as chromium does: this
    machine's resolver knows only `localhost` itself. Patched while any hub runs, restored after the
    last: hubs in two threads may start and stop in any order."""
    import socket

    with _RESOLVING_LOCK:
        if not _RESOLVING["hubs"]:
            original = _RESOLVING["original"] = socket.getaddrinfo

            def getaddrinfo(host, *args, **kwargs):
                if isinstance(host, str) and host.endswith(".localhost"):
                    host = "127.0.0.1"
                return original(host, *args, **kwargs)

            socket.getaddrinfo = getaddrinfo
        _RESOLVING["hubs"] += 1
    try:
        yield
    finally:
        with _RESOLVING_LOCK:
            _RESOLVING["hubs"] -= 1
            if not _RESOLVING["hubs"]:
                socket.getaddrinfo = _RESOLVING["original"]


def docker_spawner_config(prefix: str, image: str, user_networks: bool = True, hub_container: str = "") -> str:
    """The DockerSpawner part every hub test shares: each server in a container of its own, its port
    published on loopback only, removed when stopped and labelled with this test session (so a failed
    run's containers and networks are found); generous start timeouts for a loaded machine. With
    user_networks (what docs/jupyterhub.md tells admins to run), each user's servers on a docker network
    of the user's own, from what `build.py dockerspawner` prints; without, all on Docker's default
    bridge (what the docs said before). A module appends what is its own."""
    from tracked import session_label
    from labstack.user_networks import spawner_config

    spawner = spawner_config(hub_container) if user_networks else 'c.JupyterHub.spawner_class = "docker"\n'
    return spawner + f"""
c.DockerSpawner.image = "{image}"
c.DockerSpawner.host_ip = "127.0.0.1"  # published on loopback only
c.DockerSpawner.prefix = "{prefix}"
c.DockerSpawner.remove = True
c.DockerSpawner.extra_create_kwargs = {{"labels": {session_label()!r}}}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
"""


@contextmanager
def running_hub(engine, workdir, spawner_config: str, users=("alice", "bob"), env=None, subdomains=False):
    """Start the hub with the spawner part of its config; yield url (what this process asks, on
    127.0.0.1), public_url (what a browser opens: the same on one domain, http://hub.localhost:PORT
    with per-user subdomains), token, password and log."""
    chp = require("configurable-http-proxy", "npm install -g configurable-http-proxy")
    try:
        import jupyterhub  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    ports = {name: free_loopback_port() for name in ("proxy_port", "hub_port", "proxy_api_port")}
    token, password = secrets.token_hex(16), secrets.token_hex(8)
    config = textwrap.dedent(HUB_CONFIG).format(workdir=workdir, chp=chp, token=token, password=password,
                                                gateway=bridge_gateway(engine), users=set(users), **ports)
    public_url = f"http://{SUBDOMAIN_HOST}:{ports['proxy_port']}" if subdomains else f"http://127.0.0.1:{ports['proxy_port']}"
    if subdomains:
        config += f"c.JupyterHub.subdomain_host = {public_url!r}\n"
    (workdir / "jupyterhub_config.py").write_text(config + textwrap.dedent(spawner_config))
    service = Service([sys.executable, "-m", "jupyterhub", "-f", str(workdir / "jupyterhub_config.py")],
                      workdir, env={**os.environ, **(env or {})})
    resolving = localhost_names_resolve()
    resolving.__enter__()
    try:
        url = f"http://127.0.0.1:{ports['proxy_port']}"
        wait_for_url(f"{url}/hub/api", service.process, service.log, timeout=90)
        yield {"url": url, "public_url": public_url, "subdomains": subdomains, "token": token,
               "password": password, "log": service.log}
    finally:
        resolving.__exit__(None, None, None)
        service.stop()


@contextmanager
def app_images_hub(image, engine, workdir, prefix: str, spawner_part: str, layout: str, users=("alice", "bob")):
    """A module's hub offering the code-server and rstudio+code-server images (spawner_part formatted
    with `images`), on one domain or subdomains (`layout`); its containers removed at the end."""
    from labstack.containers import remove_stray_containers
    from tracked import session_filter

    try:
        import dockerspawner  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    images = {"code-server": image("code-server"), "rstudio-code-server": image("rstudio+code-server")}
    spawner = docker_spawner_config(prefix, images["code-server"]) + spawner_part.format(images=repr(images))
    try:
        with running_hub(engine, workdir, spawner, users=users, subdomains=layout == "subdomains") as hub:
            yield {**hub, "images": images, "layout": layout}
    finally:
        remove_stray_containers(session_filter(), prefix=prefix)


def server_url(hub, user) -> str:
    """Where a user's default server is: on the hub's host, or on the user's own subdomain."""
    if hub["subdomains"]:
        return f"http://{user}.{hub['public_url'].split('://', 1)[1]}/user/{user}"
    return f"{hub['public_url']}/user/{user}"


def api(hub, method, path, **kwargs):
    return requests.request(method, f"{hub['url']}/hub/api{path}", timeout=30,
                            headers={"Authorization": f"token {hub['token']}"}, **kwargs)


def wait_until_ready(hub, user, server="", timeout=180):
    poll_until(lambda: api(hub, "GET", f"/users/{user}").json()["servers"].get(server, {}).get("ready"), timeout, 1,
               lambda: f"{user}'s server {server!r} never got ready:\n{hub['log'].read_text()[-3000:]}")


def spawn_all(hub, servers, timeout=180):
    """Ask for every (user, server name, options) at once, as many people arriving do, then wait until
    each is ready: the hub starts them side by side."""
    for user, server, options in servers:
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        response = api(hub, "POST", path, json=options or {})
        assert response.status_code in (201, 202), f"{response.status_code} {response.text}:\n{hub['log'].read_text()[-3000:]}"
    for user, server, _ in servers:
        wait_until_ready(hub, user, server, timeout)


def user_token(hub, user, scopes=None):
    body = {"note": "e2e", **({"scopes": scopes} if scopes else {})}
    response = api(hub, "POST", f"/users/{user}/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def login(hub, user) -> requests.Session:
    """A browser session: the hub's login form, with its _xsrf cookie, as a person fills it in."""
    session = requests.Session()
    session.get(f"{hub['public_url']}/hub/login", timeout=30)
    response = session.post(f"{hub['public_url']}/hub/login", timeout=30, allow_redirects=False,
                            data={"username": user, "password": hub["password"], "_xsrf": session.cookies.get("_xsrf", "")})
    assert response.status_code == 302, (response.status_code, response.text[:500])
    return session


def websocket_status(url, token=None, cookies=None):
    headers = [f"Authorization: token {token}"] if token else []
    if cookies:
        headers.append("Cookie: " + "; ".join(f"{c.name}={c.value}" for c in cookies))
    try:  # redirects are not followed: a redirect into the hub is the answer
        websocket.create_connection(url.replace("http://", "ws://", 1), header=headers, timeout=20,
                                    redirect_limit=0).close()
    except websocket.WebSocketBadStatusException as error:
        return error.status_code
    except websocket.WebSocketException as error:
        if "Redirect limit exhausted" in str(error):
            return 302
        return 0  # closed without an answer: not an upgrade either
    except OSError:
        return 0
    return 101


def logged_in(browser, hub, user):
    """A browser context logged in to the hub as user, through its login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub['public_url']}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub["password"])
    with page.expect_navigation():  # to the hub's home, or straight on to the user's running server
        page.click("#login_submit")
    return context, page


def print_outcomes(title: str, columns: list[str], results: dict[str, dict[str, str]]) -> None:
    """A module's table of attempts (rows) by hub setup (columns), as the closing notes quote it."""
    names = list(dict.fromkeys(name for column in columns for name in results[column]))
    width = max(55, *map(len, names))
    print(f"\n{title:<{width}} " + " ".join(f"{column:<24}" for column in columns))
    for name in names:
        cells = [results[column].get(name, "-").split(":")[0] for column in columns]
        print(f"{name:<{width}} " + " ".join(f"{cell:<24}" for cell in cells))


class HubServer:
    """A hub user's server, as the probes take a container's (url, get, token): through the hub's proxy
    at /user/<name>/, with a token of that user's."""

    def __init__(self, hub, user: str):
        self.base_url = f"{hub['url']}/user/{user}"
        self.token = user_token(hub, user)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, token: bool = True, **kwargs) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"token {self.token}"} if token else {})}
        return requests.get(self.url(path), headers=headers, timeout=30, allow_redirects=False, **kwargs)
