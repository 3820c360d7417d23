"""Drop-in (loaded by /etc/jupyter/jupyter_server_config.py): Shiny Server at /shiny/.

Our own entry rather than jupyter-shiny-proxy, because that one listens on every interface: here
Shiny Server listens on loopback only, so Jupyter's authentication cannot be bypassed.
"""
import getpass
import os
import tempfile


def _shiny_server_command(port):
    site_dir = os.environ.get("LABSTACK_SHINY_SITE_DIR", "/srv/shiny-server")
    state_dir = tempfile.mkdtemp(prefix="shiny-server-")
    # app_init_timeout: Shiny Server gives an R process 60 s by default to start, then leaves the page
    # dead with its error; on a loaded node (a class arriving, two test lanes) R's start can take that
    # long, and a person would rather wait than reload.
    config = f"""run_as {getpass.getuser()};
preserve_logs true;
server {{
  listen {port} 127.0.0.1;
  location / {{
    app_init_timeout 300;
    site_dir {site_dir};
    log_dir {state_dir}/logs;
    bookmark_state_dir {state_dir}/bookmarks;
    directory_index on;
  }}
}}
"""
    config_path = os.path.join(state_dir, "shiny-server.conf")
    with open(config_path, "w") as file:
        file.write(config)
    return ["shiny-server", config_path]


c.ServerProxy.servers["shiny"] = {  # noqa: F821 - `c` is passed in by the main config
    "command": _shiny_server_command,
    # R and Shiny Server take a while to start on a cold container.
    "timeout": max(LABSTACK_DEFAULT_TIMEOUT, 120),  # noqa: F821
    "absolute_url": False,
    "launcher_entry": {"title": "Shiny", "icon_path": "/usr/local/share/labstack/icons/shiny.svg"},
}
