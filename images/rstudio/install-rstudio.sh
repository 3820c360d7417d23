#!/bin/bash
# Install RStudio Server and jupyter-rsession-proxy, or record that the image has none.
# Errors for the user are single lines starting "labstack-error:", which build.py reports.
set -euo pipefail

# Should rserver ever be started on a TCP port (an rserver without --www-socket, a user starting it by
# hand), it listens on loopback only: only Jupyter, which authenticates, may reach it. Written even
# without RStudio Server, for one installed later.
mkdir -p /etc/rstudio
echo "www-address=127.0.0.1" >> /etc/rstudio/rserver.conf
# The image's R, whatever else a user puts on PATH; and defaults that suit a hub (no .RData saved or
# restored, no update checks or crash-report prompts: rstudio-prefs.json, copied by the Dockerfile),
# which a user's own preferences still override.
echo "rsession-which-r=/usr/bin/R" >> /etc/rstudio/rserver.conf

if [ "${RSTUDIO_VERSION}" = none ]; then
    echo "labstack: building without RStudio Server, as asked"
    exit 0
fi

deb=/tmp/rstudio-server.deb
local_deb=$(find /tmp/rstudio-stage -maxdepth 1 -name '*.deb' | head -n 1)
if [ -n "$local_deb" ]; then
    echo "labstack: installing RStudio Server from the local file $(basename "$local_deb")" \
         "(sha256 $(sha256sum "$local_deb" | cut -d' ' -f1))"
    cp "$local_deb" "$deb"
else
    if ! curl -fsSL --retry 2 --connect-timeout 20 -o "$deb" "$RSTUDIO_URL"; then
        echo "labstack-error: cannot download RStudio Server ${RSTUDIO_VERSION} from ${RSTUDIO_URL}:" \
             "hand build.py the .deb with --rstudio-deb FILE, or build without RStudio Server with --without-rstudio"
        exit 1
    fi
    if ! echo "${RSTUDIO_SHA256}  $deb" | sha256sum --check --quiet -; then
        echo "labstack-error: RStudio Server download does not match the pinned sha256 ${RSTUDIO_SHA256}"
        exit 1
    fi
fi

apt-get update
apt-get install -y --no-install-recommends "$deb"
rm -rf "$deb" /var/lib/apt/lists/*
# The .deb leaves root-owned keys behind (secure-cookie-key, and session-rpc-key since 2026.05): rserver
# run as the user, as jupyter-rsession-proxy runs it, cannot read them and exits (Permission denied;
# jupyter-rsession-proxy#184/#187, repo2docker#1557). Without them it makes its own for each start, and
# no shared secret is baked into the image.
find /etc/rstudio /var/lib/rstudio-server -name secure-cookie-key -delete -o -name session-rpc-key -delete 2>/dev/null || true
pip install --constraint /usr/local/lib/labstack/jupyter-lock.txt "jupyter-rsession-proxy==${JUPYTER_RSESSION_PROXY_VERSION}"
