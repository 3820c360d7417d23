// Express middleware, first in code-server's app (precompress-static.js puts it there): a GET for one of
// VS Code's static files (/<quality>-<commit>/static/<path>) that has a .br or .gz written at build time
// is answered from that file, in the encoding the client prefers, by the same negotiation code-server's
// compression middleware uses. Anything else, or a client that takes neither, goes on to code-server.
"use strict";
const fs = require("fs");
const path = require("path");
const Negotiator = require("negotiator");
const send = require("send");

const VSCODE = path.join(__dirname, "..", "..", "lib", "vscode");
// The Content-Type VS Code's own server gives each (its textMimeType and getMediaMime).
const TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
    ".json": "application/json", ".svg": "image/svg+xml",
};
const SUFFIX = { br: ".br", gzip: ".gz" };

module.exports = function precompressedStatic() {
    const product = JSON.parse(fs.readFileSync(path.join(VSCODE, "product.json"), "utf8"));
    const prefix = `/${product.quality}-${product.commit}/static/`;
    return function (req, res, next) {
        if ((req.method !== "GET" && req.method !== "HEAD") || !req.path.startsWith(prefix)) return next();
        let file;
        try {
            file = path.join(VSCODE, decodeURIComponent(req.path.slice(prefix.length)));
        } catch {
            return next();
        }
        const type = TYPES[path.extname(file)];
        // path.join has resolved any "..": what is left must still be inside VS Code's folder.
        if (!type || !file.startsWith(VSCODE + path.sep)) return next();
        const encoding = new Negotiator(req).encoding(["br", "gzip", "identity"], ["br", "gzip"]);
        if (!SUFFIX[encoding]) return next();
        fs.stat(file + SUFFIX[encoding], (error, stat) => {
            if (error || !stat.isFile()) return next();
            res.setHeader("Content-Type", type);
            res.setHeader("Content-Encoding", encoding);
            res.setHeader("Vary", "Accept-Encoding");
            res.setHeader("Cache-Control", "public, max-age=31536000");
            send(req, file + SUFFIX[encoding], { cacheControl: false, dotfiles: "allow" })
                .on("error", () => {
                    for (const name of ["Content-Type", "Content-Encoding", "Vary", "Cache-Control"]) res.removeHeader(name);
                    next();
                })
                .pipe(res);
        });
    };
};
