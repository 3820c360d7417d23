"""labstack-alone NAME: an app's jupyter-server-proxy entry turned into the standalone proxy's arguments."""
from labstack_proxy.one_app_server import as_alone, server_entries, standalone_arguments


def test_a_command_with_templates_is_passed_on_for_the_proxy_to_fill():
    entry = {"command": ["voila", "--port={port}", "--Voila.base_url={base_url}dashboard/"], "timeout": 90}
    environment, argv = standalone_arguments("dashboard", entry, "/user/alice/", lambda: 1 / 0)
    # alone, the dashboard lives at the hub's prefix, which the standalone proxy gives without its slash
    assert argv == ["--timeout=90", "--", "voila", "--port={port}", "--Voila.base_url={base_url}/"]
    assert environment == {"LABSTACK_ACTIVITY_APP": "dashboard"}


def test_the_app_url_alone_is_the_prefix_as_the_standalone_proxy_fills_it():
    from jupyter_server_proxy.standalone.app import StandaloneProxyServer

    rendered = []
    for prefix in ("/user/alice/", "/"):
        server = StandaloneProxyServer(base_url=prefix)
        template = as_alone(["--url={base_url}dashboard/", "--root={base_url}", "--other={base_url}other/"],
                            "dashboard")
        rendered.append([argument.format(base_url=server.base_url) for argument in template])
    assert rendered == [["--url=/user/alice/", "--root=/user/alice/", "--other=/user/alice/other/"],
                        ["--url=/", "--root=/", "--other=/other/"]]


def test_a_callable_command_is_called_with_the_port_chosen_here():
    def shiny_command(port):
        return ["shiny-server", f"/tmp/conf-{port}"]

    environment, argv = standalone_arguments("shiny", {"command": shiny_command}, "/user/alice/", lambda: 40123)
    assert argv == ["--timeout=120", "--server-port=40123", "--", "shiny-server", "/tmp/conf-40123"]
    assert environment["LABSTACK_ACTIVITY_APP"] == "shiny"


def test_a_socket_an_absolute_url_and_a_callable_environment_are_kept():
    entry = {"command": ["app", "--socket", "{unix_socket}"], "unix_socket": True, "absolute_url": True,
             "environment": lambda port, base_url: {"APP_PREFIX": base_url, "APP_PORT": str(port)}}
    environment, argv = standalone_arguments("app", entry, "/user/bob/", lambda: 40999)
    assert argv == ["--timeout=120", "--absolute-url", "--server-port=40999", "--unix-socket=True", "--",
                    "app", "--socket", "{unix_socket}"]
    assert environment == {"APP_PREFIX": "/user/bob/", "APP_PORT": "40999", "LABSTACK_ACTIVITY_APP": "app"}


def test_entries_are_read_from_the_drop_ins_as_jupyter_reads_them(tmp_path):
    (tmp_path / "60-hello.py").write_text(
        'c.ServerProxy.servers["hello"] = {"command": ["python3", "-m", "http.server", "{port}"],'
        ' "timeout": max(LABSTACK_DEFAULT_TIMEOUT, 60)}\n')
    servers = server_entries(str(tmp_path), timeout=30)
    assert servers["hello"] == {"command": ["python3", "-m", "http.server", "{port}"], "timeout": 60}
