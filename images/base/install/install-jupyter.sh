#!/bin/sh
# The Jupyter environment in $JUPYTER_VENV (default /opt/jupyter), outside any home: JupyterLab,
# jupyter-server-proxy and jupyterhub-singleuser at the pinned versions (build arguments of
# images/base/Dockerfile, the one place they are written), plus any packages named as arguments, with
# everything under them at the versions of jupyter-lock.txt (pip constraints: `make lock` makes it).
# images/base and images/mig both run it, so a migrated image gets the same Jupyter as every other.
set -eu
venv=${JUPYTER_VENV:-/opt/jupyter}
: "${JUPYTERLAB_VERSION:?}" "${JUPYTER_SERVER_PROXY_VERSION:?}" "${JUPYTERHUB_VERSION:?}" "${UV_VERSION:?}"
# Without system site-packages, so without the user site (~/.local): nothing a user installs reaches
# Jupyter's own server. Kernels and terminals run the user's environment (labstack-env), which sees
# this one's packages below its own.
python3 -m venv "$venv"
# uv installs what pip would from the same constraints (the same `pip freeze` after), in a quarter of
# the time: it downloads in parallel (measured here: 15 s against pip's 63 s for this environment). It
# is only the build's tool: fetched by pip into /tmp, removed after; pip stays in the environment.
"$venv/bin/pip" install --no-cache-dir --quiet --target /tmp/uv "uv==${UV_VERSION}"
# flit_core: labstack-proxy's build backend, so install-labstack-proxy builds it offline.
/tmp/uv/bin/uv pip install --no-cache --python "$venv/bin/python" \
    --constraint /usr/local/lib/labstack/jupyter-lock.txt \
    "jupyterlab==${JUPYTERLAB_VERSION}" \
    "jupyter-server-proxy==${JUPYTER_SERVER_PROXY_VERSION}" \
    "jupyterhub==${JUPYTERHUB_VERSION}" \
    flit_core \
    "$@"
rm -rf /tmp/uv
"$venv/bin/jupyter" lab clean
# The hub's own web page components (bootstrap, jquery, fontawesome: ~58 MB) come with the jupyterhub
# package; a single-user server never serves them (its pages are JupyterLab's and its own templates).
rm -rf "$venv/share/jupyterhub/static/components"
find "$venv" -name __pycache__ -prune -exec rm -rf {} +
