"""jupyter-server-proxy settings shared by every labstack image.

Copied to /etc/jupyter/jupyter_server_config.py. Each image layer adds its own servers as drop-in files
in /etc/jupyter/labstack.d/*.py, loaded here in name order with `c` in scope, so no layer edits this file.
"""
import glob
import os

import labstack_proxy

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

# labstack's changes to jupyter-server-proxy (the labstack_proxy package, images/base/labstack-proxy): proxied responses stream,
# crashed apps are started again, other users' pages can't drive this server (it sets the hub's
# websocket authentication in c, with its reason). It raises SystemExit (not an Exception, which traitlets would log and
# skip along with the rest of this file) with one line if that library is not what it was written for.
labstack_proxy.install(c)

# Proxied apps must only be reached through Jupyter, never directly: only loopback hosts may be
# targets of /proxy/<host>:<port>/, which also stops the proxy being used to scan the cluster.
c.ServerProxy.host_allowlist = ["localhost", "127.0.0.1", "::1"]

# Named servers (e.g. /vscode/, /shiny/) are added by the drop-ins below. Apps such as R take a
# while to start: each drop-in sets its own timeout; this is the default for those that don't.
LABSTACK_DEFAULT_TIMEOUT = int(os.environ.get("LABSTACK_PROXY_TIMEOUT", "120"))
c.ServerProxy.servers = {}

c.ServerApp.open_browser = False
# Not a login shell: Debian's /etc/profile would reset PATH and drop /opt/jupyter/bin and the
# other folders the image's layers put on it. The terminal inherits the image's environment instead.
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash"]}

LABSTACK_DROP_IN_DIR = os.environ.get("LABSTACK_DROP_IN_DIR", "/etc/jupyter/labstack.d")
for _path in sorted(glob.glob(os.path.join(LABSTACK_DROP_IN_DIR, "*.py"))):
    with open(_path) as _file:
        exec(compile(_file.read(), _path, "exec"), {"c": c, "LABSTACK_DEFAULT_TIMEOUT": LABSTACK_DEFAULT_TIMEOUT})
