#!/bin/sh
# Corporate CA: trusted by the image itself only when asked (build.py --keep-ca-bundle sets
# KEEP_CA_BUNDLE=1). The build's secret joins the system store, which the image's PIP_CERT,
# REQUESTS_CA_BUNDLE, SSL_CERT_FILE and NODE_EXTRA_CA_CERTS all point at. images/base and images/mig.
set -eu
if [ "${KEEP_CA_BUNDLE:-0}" = 1 ] && [ -s /run/secrets/ca_bundle ]; then
    cp /run/secrets/ca_bundle /usr/local/share/ca-certificates/labstack-build-ca.crt
    update-ca-certificates
fi
