# Sourced (". /usr/local/lib/labstack/ca-env.sh") by every RUN step that reaches the network.
# When build.py is given --ca-bundle, BuildKit mounts the bundle as the secret "ca_bundle" for that one
# step only: it is never written into a layer. Point pip, npm, node, curl, git and apt at it, so builds
# work behind TLS-intercepting proxies. Without the secret this does nothing.
if [ -s /run/secrets/ca_bundle ]; then
    LABSTACK_CA_BUNDLE=/run/secrets/ca_bundle
    export PIP_CERT="$LABSTACK_CA_BUNDLE" SSL_CERT_FILE="$LABSTACK_CA_BUNDLE" \
        REQUESTS_CA_BUNDLE="$LABSTACK_CA_BUNDLE" CURL_CA_BUNDLE="$LABSTACK_CA_BUNDLE" \
        NODE_EXTRA_CA_CERTS="$LABSTACK_CA_BUNDLE" npm_config_cafile="$LABSTACK_CA_BUNDLE" \
        GIT_SSL_CAINFO="$LABSTACK_CA_BUNDLE"
    # APT_CONFIG is read on top of /etc/apt/apt.conf.d; a file there would outlive the secret.
    APT_CONFIG=$(mktemp)
    echo "Acquire::https::CAInfo \"$LABSTACK_CA_BUNDLE\";" > "$APT_CONFIG"
    export APT_CONFIG
    trap 'rm -f "$APT_CONFIG"' EXIT
fi
