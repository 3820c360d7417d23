#!/bin/sh
# What a web IDE spawned by a hub never loads, removed from code-server's install (run in the builder
# stage, so none of it reaches a layer of the image). Each line says why it can go.
set -eu
vscode=/opt/code-server/lib/node_modules/code-server/lib/vscode
cd "$vscode"
# GitHub Copilot's agent runtime (native, ~120 MB) and its built-in extension: chat is switched off
# (settings.json: chat.disableAIFeatures) and needs a GitHub sign-in a hub behind a firewall cannot do.
rm -rf node_modules/@github/copilot-sdk node_modules/@github/copilot-sdk-linux-* extensions/copilot
# Microsoft eXecution Containers SDK: sandboxes for that agent, loaded only by it (~66 MB).
rm -rf node_modules/@microsoft/mxc-sdk
# ripgrep for every platform: keep this machine's own (search needs it).
case "$(uname -m)" in
    x86_64) keep=linux-x64 ;;
    aarch64) keep=linux-arm64 ;;
    *) keep="linux-$(uname -m)" ;;
esac
find node_modules/@vscode/ripgrep-universal/bin -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} +
test -x "node_modules/@vscode/ripgrep-universal/bin/$keep/rg" || { echo "prune-code-server: no ripgrep for $keep" >&2; exit 1; }
# The desktop sign-in broker (msal-node-runtime.node): needs X11, libsecret and GLib, never loaded in a
# browser (the Microsoft sign-in extension uses the browser flow there). Nothing else needs those libraries.
find . -name 'msal-node-runtime*' -prune -exec rm -rf {} +
# Windows-only modules, esbuild (builds extensions, runs none) and source maps (debugging VS Code itself).
rm -rf node_modules/@vscode/windows-registry node_modules/@vscode/windows-process-tree extensions/node_modules/@esbuild
find /opt/code-server -name '*.map' -type f -delete
# Node's own binary without its symbol table (backtraces keep function names from V8's own tables).
strip --strip-all /opt/node/bin/node
