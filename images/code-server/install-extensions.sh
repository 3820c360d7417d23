#!/bin/sh
# install-extensions.sh DEST DIR...: install every .vsix found in DIR... into DEST, owned by jovyan.
set -eu
dest=$1
shift
mkdir -p "$dest"
# code-server writes state to its user-data-dir and $HOME: keep both out of /home/jovyan.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for dir in "$@"; do
    for vsix in "$dir"/*.vsix; do
        [ -e "$vsix" ] || continue
        echo "installing extension $(basename "$vsix")"
        HOME="$scratch" /usr/local/bin/code-server --user-data-dir "$scratch/data" \
            --extensions-dir "$dest" --install-extension "$vsix"
    done
done
chown -R "${NB_UID}:${NB_GID}" "$dest"
