// Build time (builder stage): write a .br and a .gz beside each of VS Code's static files that a browser
// loads, and put precompressed-static.js in front of code-server's compression middleware, which would
// otherwise compress the 19 MB workbench anew for every page load on code-server's one Node thread.
// Usage: node precompress-static.js <code-server package folder> <precompressed-static.js>
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const [packageDir, middleware] = process.argv.slice(2);
const vscode = path.join(packageDir, "lib", "vscode");
// What VS Code's server sends with a Content-Type that code-server's compression would compress.
const EXTENSIONS = new Set([".js", ".mjs", ".css", ".html", ".json", ".svg"]);
const THRESHOLD = 1024; // the compression middleware's own: smaller bodies go out as they are

// The browser loads out/ except what runs in Node or Electron, and from extensions only their manifests
// and their browser (web worker) builds; the rest of extensions/ runs in the Node extension host.
function loadedByTheBrowser(relative) {
    const parts = relative.split(path.sep);
    if (parts[0] === "out") {
        return !parts.some((p) => p === "node" || p.startsWith("electron-")) &&
            !/^(server-main|server-cli|cli|bootstrap-.*)\.js$/.test(parts[1]);
    }
    if (parts[0] === "extensions") {
        return (parts.length === 3 && /^package(\.nls)?\.json$/.test(parts[2])) ||
            parts.includes("browser") || parts.includes("web");
    }
    return false;
}

function* files(dir) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) yield* files(full);
        else if (entry.isFile()) yield full;
    }
}

let count = 0, plain = 0, br = 0, gz = 0;
for (const top of ["out", "extensions"]) {
    for (const file of files(path.join(vscode, top))) {
        const relative = path.relative(vscode, file);
        if (!EXTENSIONS.has(path.extname(file)) || !loadedByTheBrowser(relative)) continue;
        const body = fs.readFileSync(file);
        if (body.length < THRESHOLD) continue;
        // quality 10, not 11: measured on these files, 1.7 % larger at less than half the time (54 s
        // against 118 s on two cores); 9 is 10 % larger.
        const brotli = zlib.brotliCompressSync(body, {
            params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 10, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
        });
        const gzip = zlib.gzipSync(body, { level: 9 });
        fs.writeFileSync(file + ".br", brotli);
        fs.writeFileSync(file + ".gz", gzip);
        count += 1; plain += body.length; br += brotli.length; gz += gzip.length;
    }
}

// One line of code-server's out/node/app.js, checked: a code-server upgrade that moves it fails the build.
const app = path.join(packageDir, "out", "node", "app.js");
const line = "router.use((0, compression_1.default)());";
const source = fs.readFileSync(app, "utf8");
if (source.split(line).length !== 2) {
    console.error(`precompress-static: expected "${line}" once in ${app}`);
    process.exit(1);
}
fs.copyFileSync(middleware, path.join(packageDir, "out", "node", "labstack-precompressed-static.js"));
fs.writeFileSync(app, source.replace(line, `router.use(require("./labstack-precompressed-static")());\n    ${line}`));
const mb = (n) => (n / 1e6).toFixed(1);
console.log(`precompress-static: ${count} files, ${mb(plain)} MB -> br ${mb(br)} MB + gzip ${mb(gz)} MB`);
