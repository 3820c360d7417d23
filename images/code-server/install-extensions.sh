#!/bin/sh
# install-extensions.sh DEST DIR...: keep every .vsix found in DIR... in DEST, for the code-server wrapper
# to install into each user's own extensions folder (in their home) on first start. Each is installed
# once here, into a scratch folder, so that a broken .vsix fails the build rather than a user's start.
set -eu
dest=$1
shift
mkdir -p "$dest"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for dir in "$@"; do
    for vsix in "$dir"/*.vsix; do
        [ -e "$vsix" ] || continue
        echo "checking extension $(basename "$vsix")"
        HOME="$scratch" /usr/local/bin/code-server --user-data-dir "$scratch/data" \
            --extensions-dir "$scratch/extensions" --install-extension "$vsix"
        cp "$vsix" "$dest/"
    done
done
chmod -R a+rX "$dest"
