"""A small web app the proxy tests run inside a container (python3 proxy_app.py PORT), on 127.0.0.1:

  /bytes/N      N bytes (zeros, 1 MiB at a time) with Content-Length; honours one `Range: bytes=A-B`
  /status/N     answers status N
  /cookies      two Set-Cookie headers and an X-Labstack header
  /redirect     302 to /cookies (an absolute path: the proxy must give it its prefix)
  /upload       POST or PUT: reads the body as it comes and answers its length and sha256
  /connections  how many requests are being answered now (a download the browser dropped must end)
"""
import hashlib
import http.server
import re
import sys
import threading

CHUNK = 1 << 20
ACTIVE = [0]
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        with LOCK:
            ACTIVE[0] += 1
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy closed the connection: what a dropped download must cause
        finally:
            with LOCK:
                ACTIVE[0] -= 1

    def route(self):
        path = re.sub(r"^/proxy/absolute/\d+", "", self.path.split("?")[0])  # /proxy/absolute/ keeps its prefix
        if path.startswith("/bytes/"):
            self.send_bytes(int(path.split("/")[2]))
        elif path.startswith("/status/"):
            self.answer(int(path.split("/")[2]), b"status from the app")
        elif path == "/cookies":
            self.answer(200, b"cookies", [("Set-Cookie", "first=1; Path=/"), ("Set-Cookie", "second=2; Path=/"),
                                          ("X-Labstack", "kept")])
        elif path == "/redirect":
            self.answer(302, b"", [("Location", "/cookies")])
        elif path == "/connections":
            self.answer(200, str(ACTIVE[0] - 1).encode())  # not counting this request
        else:
            self.answer(404, b"no such page")

    def send_bytes(self, size):
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start, end = int(match.group(1)), int(match.group(2) or size - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if self.command == "HEAD":
            return
        remaining, zeros = end - start + 1, bytes(CHUNK)
        while remaining > 0:
            self.wfile.write(zeros[:min(CHUNK, remaining)])
            remaining -= min(CHUNK, remaining)

    def do_POST(self):
        digest, length = hashlib.sha256(), int(self.headers.get("Content-Length", "0"))
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        self.answer(200, f"{length - remaining} {digest.hexdigest()}".encode())

    do_PUT = do_POST


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
