"""code-server-guard: code-server listens on loopback or a unix socket only, whatever it is told."""
import importlib.machinery
import importlib.util

import pytest

from labstack import REPO_ROOT

_loader = importlib.machinery.SourceFileLoader("code_server_guard", str(REPO_ROOT / "images/code-server/code-server-guard"))
_spec = importlib.util.spec_from_loader("code_server_guard", _loader)
guard = importlib.util.module_from_spec(_spec)
_loader.exec_module(guard)


@pytest.mark.parametrize("args, env, expected", [
    (["--auth", "none", "--port=8123", "."], {}, ["--auth", "none", ".", "--bind-addr", "127.0.0.1:8123"]),
    (["--bind-addr", "0.0.0.0:9000", "--auth", "none"], {}, ["--auth", "none", "--bind-addr", "127.0.0.1:9000"]),
    (["--bind-addr=[::]:9001", "--host", "0.0.0.0"], {}, ["--bind-addr", "127.0.0.1:9001"]),
    (["--auth", "none"], {"PORT": "7000", "CODE_SERVER_HOST": "0.0.0.0"}, ["--auth", "none", "--bind-addr", "127.0.0.1:7000"]),
    ([], {}, ["--bind-addr", "127.0.0.1:8080"]),
    (["--socket", "/tmp/s.sock", "--socket-mode", "0600", "--bind-addr", "0.0.0.0:1"], {},
     ["--socket", "/tmp/s.sock", "--socket-mode", "0600"]),
])
def test_every_bind_address_becomes_loopback(args, env, expected):
    guarded, clean_env = guard.guarded(args, env)
    assert guarded == expected
    assert "CODE_SERVER_HOST" not in clean_env and "PORT" not in clean_env


def test_a_port_that_is_not_a_number_is_refused():
    with pytest.raises(SystemExit, match="not a port number"):
        guard.guarded(["--port", "0.0.0.0"], {})


def test_state_folders_from_the_image_unless_given():
    env = {"LABSTACK_CODE_USER_DATA_DIR": "/config/data", "CODE_EXTENSIONSDIR": "/config/extensions",
           "LABSTACK_CODE_CONFIG": "/config/cs.yaml"}
    args, _ = guard.guarded(["--socket", "/s", "--extensions-dir", "/mine", "--list-extensions"], env)
    assert args == ["--socket", "/s", "--extensions-dir", "/mine", "--list-extensions",
                    "--user-data-dir", "/config/data", "--config", "/config/cs.yaml"]


@pytest.mark.parametrize("env, expected", [
    ({}, "/proxy/{{port}}/"),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}, "/user/alice/proxy/{{port}}/"),
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "VSCODE_PROXY_URI": "https://{{port}}.example.org/"},
     "https://{{port}}.example.org/"),  # the admin's own
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "LABSTACK_VSCODE_ALONE": "1"}, None),  # code-server's own proxy
])
def test_ports_open_at_jupyters_proxy(env, expected):
    _, clean_env = guard.guarded(["--socket", "/s"], env)
    assert clean_env.get("VSCODE_PROXY_URI") == expected
