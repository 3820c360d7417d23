"""`labstack-alone NAME`: one of the image's apps as the whole server behind the hub, with no notebook
server: the hub runs this as a profile's cmd. The app is started as JupyterLab would start it (its
jupyter-server-proxy entry: the image's labstack.d drop-ins, or a jupyter-*-proxy package's entry
point), under labstack's standalone proxy, which answers the hub's users only, websockets included.

Only NAME is read: the spawner appends arguments of its own, and nothing may change how this
authenticates. VS Code keeps its own script (labstack-vscode-standalone), which passes code-server
the flags it needs alone.
"""
from __future__ import annotations

import os
import socket
import sys

DROP_IN_DIR = "/etc/jupyter/labstack.d"


def server_entries(drop_in_dir: str = DROP_IN_DIR, timeout: int = 120) -> dict:
    """Every app the image's Jupyter would serve: its drop-ins' entries, then the entry points'."""
    import glob
    from importlib.metadata import entry_points

    from traitlets.config import Config

    servers = {}
    for group in entry_points(group="jupyter_serverproxy_servers"):
        servers[group.name] = group.load()()
    c = Config()
    c.ServerProxy.servers = {}
    for path in sorted(glob.glob(os.path.join(drop_in_dir, "*.py"))):
        with open(path) as file:
            exec(compile(file.read(), path, "exec"), {"c": c, "LABSTACK_DEFAULT_TIMEOUT": timeout})
    servers.update(c.ServerProxy.servers)
    return servers


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call_with(function, **values):
    """Call a jupyter-server-proxy callable (command, environment) as it does: with the arguments it names."""
    import inspect

    names = inspect.signature(function).parameters
    return function(**{name: value for name, value in values.items() if name in names})


def as_alone(value, name: str):
    """A template of the entry, for where the app lives alone. Under Jupyter, jupyter-server-proxy fills
    {base_url} with Jupyter's prefix, slash-ended, and the app lives at {base_url}NAME/; alone, the
    standalone proxy fills it with the hub's prefix without its slash, and the app lives at the prefix
    itself. So `{base_url}NAME/` becomes the prefix and `{base_url}` keeps its slash: an app told its
    URL (Voilà's base_url) writes links that reach it in both places."""
    if isinstance(value, str):
        return value.replace("{base_url}" + name + "/", "{base_url}").replace("{base_url}", "{base_url}/")
    if isinstance(value, list):
        return [as_alone(item, name) for item in value]
    if isinstance(value, dict):
        return {key: as_alone(item, name) for key, item in value.items()}
    return value


def standalone_arguments(name: str, entry: dict, base_url: str, port_for_callable) -> tuple[dict, list[str]]:
    """(environment, argv for `python3 -m labstack_proxy`) that serve the entry alone."""
    arguments = [f"--timeout={int(entry.get('timeout', 120))}"]
    if entry.get("absolute_url"):
        arguments.append("--absolute-url")
    command = as_alone(entry["command"], name)
    environment = as_alone(entry.get("environment", {}), name)
    if callable(command) or callable(environment):
        # jupyter-server-proxy would give a callable the port it chose; alone, the port is chosen here
        port = port_for_callable()
        arguments.append(f"--server-port={port}")
        if callable(command):
            command = call_with(command, port=port, base_url=base_url)
        if callable(environment):
            environment = call_with(environment, port=port, base_url=base_url)
    if entry.get("unix_socket"):
        arguments.append("--unix-socket=True")
    environment = {**environment, "LABSTACK_ACTIVITY_APP": name}
    return environment, arguments + ["--", *command]


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: labstack-alone NAME (an app of this image)")
    name = argv[0]  # the spawner's own arguments after it are not read
    servers = server_entries(timeout=int(os.environ.get("LABSTACK_PROXY_TIMEOUT", "120")))
    if name not in servers:
        raise SystemExit(f"labstack-alone: no app {name!r} in this image (it has {', '.join(sorted(servers))})")
    base_url = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    environment, arguments = standalone_arguments(name, servers[name], base_url, free_loopback_port)
    os.environ.update(environment)
    from .standalone_proxy import standalone_main

    standalone_main(arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
