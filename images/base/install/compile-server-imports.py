"""Bytecode for what Jupyter imports when it starts, written at build time.

/opt/jupyter is root's and the server runs as jovyan, so a server can never write its own bytecode:
without this, every start compiles every module it imports (install-jupyter.sh removes pip's bytecode,
which covered all 4,000 modules of the environment, used or not). Here the image's own server starts
once, as root, with the image's config, serves JupyterLab's page, and stops: Python writes bytecode for
exactly what that imported, labstack_proxy included, and a kernel starts once for a first notebook's. Run with the Jupyter environment's python, after
the runtime files are in place; images/base and images/mig both run it. Only loopback is used.
"""
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.dirname(sys.executable)
# A bound for a hung server, not a measure of a slow one: its first start compiles what it imports, and
# on a builder shared with other work (CI's second engine, at a low CPU weight beside two test lanes) it
# took longer than 120 s. A slow builder must not fail the build.
SECONDS = 600


def main() -> int:
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="labstack-compile-") as home:
        env = dict(os.environ, HOME=home, JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
                   JUPYTER_TOKEN=token)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        log = open(os.path.join(home, "server.log"), "w+")
        server = subprocess.Popen([os.path.join(BIN, "jupyter"), "lab", "--allow-root", "--no-browser",
                                   "--ip=127.0.0.1", "--port=0", f"--notebook-dir={home}"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
        try:
            base = wait_for_url(server, log)
            for path in ("api/status", "lab", "api/kernelspecs", "api/terminals", "server-proxy/servers-info"):
                call(base + path, token)
            # a first notebook's kernel: ipykernel and IPython as the kernel process imports them
            subprocess.run([sys.executable, "-c", "from ipykernel.kernelapp import IPKernelApp; "
                            "app = IPKernelApp.instance(); app.initialize(['--IPKernelApp.connection_file=' + "
                            f"{os.path.join(home, 'kernel.json')!r}]); app.close()"],
                           env=env, cwd=home, check=True, timeout=SECONDS, stdout=log, stderr=subprocess.STDOUT)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


def call(url, token, method="GET", body=None):
    request = urllib.request.Request(url, data=body, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=SECONDS) as response:
        text = response.read()
    return json.loads(text) if response.headers.get_content_type() == "application/json" and text else None


def wait_for_url(server, log) -> str:
    """The server's base URL, from its log, once it answers; bounded in time."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            sys.exit(f"compile-server-imports: the server exited {server.returncode}:\n{log.read()[-3000:]}")
        log.seek(0)
        for line in log.read().splitlines():
            if "http://127.0.0.1:" in line and "/lab" in line:
                url = line[line.index("http://127.0.0.1:"):].split()[0]
                return url.split("lab", 1)[0]
        time.sleep(0.2)
    log.seek(0)
    sys.exit(f"compile-server-imports: the server did not start within {SECONDS}s:\n{log.read()[-3000:]}")


if __name__ == "__main__":
    sys.exit(main())
