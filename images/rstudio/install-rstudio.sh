#!/bin/bash
# Install RStudio Server and jupyter-rsession-proxy, or record that the image has none.
# Errors for the user are single lines starting "labstack-error:", which build.py reports.
set -euo pipefail

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
# The .deb leaves root-owned keys behind; recent rserver releases exit silently on them when run as
# a normal user, as jupyter-rsession-proxy does. It makes its own per-session keys instead.
find /etc/rstudio /var/lib/rstudio-server -name secure-cookie-key -delete -o -name session-rpc-key -delete 2>/dev/null || true
pip install "jupyter-rsession-proxy==${JUPYTER_RSESSION_PROXY_VERSION}"
