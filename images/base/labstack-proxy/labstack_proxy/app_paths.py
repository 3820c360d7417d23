"""The public path an app a person starts needs, given in the environment the frameworks read, so that
each one opens through /proxy/<port>/ as its quick-start starts it, with no flag (Bokeh excepted).

Through jupyter-server-proxy an app is served at {base_url}proxy/<port>/ (on a hub, /user/<name>/proxy/...)
and sees requests for "/": a framework whose page asks for its files from the server's root gets 404s.
What each one reads, set when the server starts (so every terminal, kernel and VS Code inherits it), and
only where the person hasn't set it already:
- Dash: DASH_REQUESTS_PATHNAME_PREFIX, the path its page asks for its files under. Dash's default port;
  an app on another port is listed with the variable to set for it (web_apps).
- Gradio: GRADIO_ROOT_PATH, the same for Gradio, at its default port. Gradio moves to 7861 and up when 7860
  is taken: that app is listed with the variable to set too.
- Bokeh: nothing. `bokeh serve` asks for BokehJS at /static/ and reads no setting for a path but
  BOKEH_RESOURCES, which Panel reads too: any mode but "server" makes Panel (which works here as it is)
  fetch its files from a CDN, refused where the cluster has no way out. Its entry says the flag instead
  (web_apps).
- Dask: DASK_DISTRIBUTED__DASHBOARD__LINK, the dashboard link Dask prints and shows (by default its
  container's address, which goes around Jupyter), through the proxy on whatever port the dashboard took.
- Streamlit: loopback (it binds every address by default) and headless (its first run in a terminal would
  wait at an e-mail prompt). The base image sets these too, for processes started outside Jupyter;
  here they reach migrated images as well.
Streamlit, Panel, TensorBoard and Dask's dashboard ask for their files relative to the page: no path.
(TensorBoard's fonts excepted: it asks for them at the root, and the browser falls back to its own.)
Nothing here rewrites what an app sends.
"""
from __future__ import annotations

import os

DASH_PORT = 8050
GRADIO_PORT = 7860


def variables(base_url: str, port: int | None = None) -> dict[str, str]:
    """The environment that opens the frameworks through the proxy under base_url: for their default
    ports, or for one port (what an app started on another port needs)."""
    found = {
        "DASH_REQUESTS_PATHNAME_PREFIX": f"{base_url}proxy/{port or DASH_PORT}/",
        "GRADIO_ROOT_PATH": f"{base_url}proxy/{port or GRADIO_PORT}",
    }
    if port is None:
        found.update({
            "DASK_DISTRIBUTED__DASHBOARD__LINK": f"{base_url}proxy/{{port}}/status",  # Dask fills {port} in
            "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "STREAMLIT_SERVER_HEADLESS": "true",
        })
    return found


def set_defaults(base_url: str, environ=os.environ) -> None:
    for name, value in variables(base_url).items():
        environ.setdefault(name, value)


def _load_jupyter_server_extension(serverapp) -> None:
    set_defaults(serverapp.web_app.settings.get("base_url", "/"))
