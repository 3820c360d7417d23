"""A small web app the proxy tests run inside a container (python3 proxy_app.py PORT), on 127.0.0.1:

  /bytes/N      N bytes (zeros, 1 MiB at a time) with Content-Length; honours one `Range: bytes=A-B`
  /status/N     answers status N
  /cookies      two Set-Cookie headers and an X-Labstack header
  /redirect     302 to /cookies (an absolute path: the proxy must give it its prefix)
  /upload       POST or PUT: reads the body as it comes and answers its length and sha256
  /ws/stream/N  a websocket sending N bytes in 64 KiB binary messages (as a terminal printing a lot), then closing;
                message i is 64 KiB of byte i % 251, so a client can check order and completeness
  /ws/sink/S    a websocket that reads nothing for S seconds, then reads until a text message "end" and
                answers "<bytes> <sha256>" of the binary messages it got
  /ws/echo      a websocket sending back each message it gets
  /headers      the request's path (with its query) and headers, as JSON: what reached the app
  /chat         a page whose button sends a message on /ws/heartbeat and shows the echo
  /ws/heartbeat a websocket that echoes, and pings and sends "heartbeat" every 2 s, as live apps do
  /connections  how many requests are being answered now (a download or upload the browser dropped must end)
  /uploads      how many uploads it has been sent (one that reached it counts, whoever could read the answer)
"""
import base64
import hashlib
import http.server
import json
import re
import struct
import sys
import threading
import time

CHUNK = 1 << 20
STREAM_MESSAGE = 64 << 10
ACTIVE = [0]
UPLOADS = [0]
LOCK = threading.Lock()


CHAT_PAGE = b"""<html><body><p id=said>nothing yet</p><button id=send>send</button><script>
const ws = new WebSocket(new URL("ws/heartbeat", location.href).href.replace(/^http/, "ws"));
let sent = 0;
ws.onopen = () => { document.getElementById("said").textContent = "connected"; };
ws.onclose = (event) => { document.getElementById("said").textContent = "closed " + event.code; };
ws.onmessage = (event) => { if (event.data !== "heartbeat") document.getElementById("said").textContent = event.data; };
document.getElementById("send").onclick = () => ws.send("person " + (++sent));
</script></body></html>"""


def stream_message(index, remaining):
    """Message `index` of /ws/stream/ (test_base_slow_clients hashes the same to check what arrived)."""
    return bytes([index % 251]) * min(STREAM_MESSAGE, remaining)


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
        self.counted(self.route)

    def counted(self, answer):
        """Answer, counted in /connections while it runs."""
        with LOCK:
            ACTIVE[0] += 1
        try:
            answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy closed the connection: what a dropped download or upload must cause
        finally:
            with LOCK:
                ACTIVE[0] -= 1

    def route(self):
        path = re.sub(r"^(/user/[^/]+)?/proxy/absolute/\d+", "", self.path.split("?")[0])  # /proxy/absolute/ keeps its prefix
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket(path)
        elif path.startswith("/bytes/"):
            self.send_bytes(int(path.split("/")[2]))
        elif path.startswith("/status/"):
            self.answer(int(path.split("/")[2]), b"status from the app")
        elif path == "/cookies":
            self.answer(200, b"cookies", [("Set-Cookie", "first=1; Path=/"), ("Set-Cookie", "second=2; Path=/"),
                                          ("X-Labstack", "kept")])
        elif path == "/redirect":
            self.answer(302, b"", [("Location", "/cookies")])
        elif path == "/uploads":
            self.answer(200, str(UPLOADS[0]).encode())
        elif path == "/chat":
            self.answer(200, CHAT_PAGE, [("Content-Type", "text/html; charset=utf-8")])
        elif path == "/headers":  # what reached the app: its request line and headers
            seen = {"path": self.path, "headers": {name.lower(): value for name, value in self.headers.items()}}
            self.answer(200, json.dumps(seen).encode(), [("Content-Type", "application/json")])
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

    def websocket(self, path):
        """Just enough of RFC 6455 for the tests: binary and text messages up to 2^63, no fragments."""
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.end_headers()
        self.close_connection = True
        if path.startswith("/ws/stream/"):
            remaining, index = int(path.split("/")[3]), 0
            while remaining > 0:
                self.send_frame(2, stream_message(index, remaining))
                remaining, index = remaining - min(STREAM_MESSAGE, remaining), index + 1
            self.send_frame(8, struct.pack("!H", 1000))
        elif path.startswith("/ws/sink/"):
            time.sleep(float(path.split("/")[3]))
            digest, received = hashlib.sha256(), 0
            while True:
                opcode, payload = self.read_frame()
                if opcode == 2:
                    digest.update(payload)
                    received += len(payload)
                elif opcode == 8 or (opcode == 1 and payload == b"end"):
                    break
            self.send_frame(1, f"{received} {digest.hexdigest()}".encode())
            self.send_frame(8, struct.pack("!H", 1000))
        elif path == "/ws/heartbeat":
            def beat():
                while not stopped.wait(2):
                    try:
                        self.send_frame(9, b"beat")
                        self.send_frame(1, b"heartbeat")
                    except OSError:
                        return
            stopped = threading.Event()
            threading.Thread(target=beat, daemon=True).start()
            try:
                self.echo()
            finally:
                stopped.set()
        elif path == "/ws/echo":
            self.echo()

    def echo(self):
        while True:
            opcode, payload = self.read_frame()
            if opcode == 8:
                self.send_frame(8, payload[:2])
                return
            if opcode == 9:  # ping
                self.send_frame(10, payload)
            elif opcode in (1, 2):
                self.send_frame(opcode, payload)

    def send_frame(self, opcode, payload):
        size = len(payload)
        length = bytes([size]) if size < 126 else struct.pack("!BH", 126, size) if size < 1 << 16 else struct.pack("!BQ", 127, size)
        with self.__dict__.setdefault("writing", threading.Lock()):  # the heartbeat's thread writes too
            self.wfile.write(bytes([0x80 | opcode]) + length + payload)
            self.wfile.flush()

    def read_frame(self):
        first, second = self.rfile.read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.rfile.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if second & 0x80 else None
        payload = self.rfile.read(size)
        if mask:  # XOR with the repeated mask, as one big integer (fast for large messages)
            repeated = (mask * (size // 4 + 1))[:size]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
        return first & 0x0F, payload

    def do_POST(self):
        self.counted(self.read_upload)

    def read_upload(self):
        with LOCK:
            UPLOADS[0] += 1
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
