"""What counts as a person's activity, app by app, read from the layers' image.toml as the image reads
them (labstack_proxy.activity): the messages are shaped as each app sends them (captured from a
workbench, Shiny Server and JupyterLab left open, then used). RStudio's rule is checked only here:
rserver cannot run on this machine."""
import shutil
import struct

import pytest

from labstack import REPO_ROOT, LabstackError
from labstack.graph import images_dir, load_graph
from labstack_proxy.activity import EVERYTHING, keepalive_until, load_rules, parse_duration


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """The layers' files where an image has them (/usr/local/share/labstack/layers/<layer>.toml)."""
    folder = tmp_path_factory.mktemp("layers")
    for meta in sorted((REPO_ROOT / "images").glob("*/image.toml")):
        shutil.copy(meta, folder / f"{meta.parent.name}.toml")
    return load_rules(str(folder))


def vscode_message(kind: int, body: bytes = b"") -> bytes:
    """A frame of VS Code's protocol: type, id, ack, length (13 bytes), then the body."""
    return struct.pack(">BIII", kind, 7, 6, len(body)) + body


def rpc(method: str, argument: str) -> bytes:
    return vscode_message(1, b"\x00\x00\x00\x2f\x5f\x01" + method.encode() + b"\x06\x00\x00\x00" + argument.encode())


IDLE_WORKBENCH = [
    vscode_message(9),  # KeepAlive
    vscode_message(3),  # Ack
    rpc("$onFileEvent", '[{"created":[],"changed":[{"$mid":1,"path":"/home/jovyan/.local/share/code-server/heartbeat"}]}]'),
    rpc("$onDidChangeWindowActive", "[false]"),
    vscode_message(1, b"\x00\x00\x00d\x00\x00\x00\x0bremoteFilesystem\x00\x00\x00\x04stat" + b'{"path":"/home/jovyan/x"}'),
    vscode_message(1, b"\x00\x00\x00d\x00\x00\x00\x09telemetry\x00\x00\x00\x04ping"),
    vscode_message(1, b"\x00\x00\x00\x00\x00\x00\x00\xc9\x00\x00\x00\x00"),  # a reply to the server
]


def test_an_idle_workbench_is_not_a_person_and_typing_is(rules):
    vscode = rules["vscode"]
    assert not [message for message in IDLE_WORKBENCH if vscode.counts_message(message)]
    assert vscode.counts_message(rpc("$acceptModelChanged", '[{"fsPath":"/home/jovyan/person.py"}]'))
    assert vscode.counts_message(vscode_message(1, b"\x00\x00\x00d\x00\x00\x00\x0eremoteterminal\x00\x00\x00\x06$input\x00\x00\x00\x01e"))
    assert vscode.counts_request("GET", "/stable-53c2f32/static/out/vs/workbench/workbench.web.main.js")


def test_shiny_acknowledgements_are_not_a_person_and_a_moved_slider_is(rules):
    shiny = rules["shiny"]
    assert not shiny.counts_message('["ACK 10"]')
    assert shiny.counts_message('["2#0|m|{\\"method\\":\\"update\\",\\"data\\":{\\"n\\":500}}"]')


def test_rstudios_long_poll_is_not_a_person_and_its_calls_are(rules):
    rstudio = rules["rstudio"]
    assert not rstudio.counts_request("POST", "/events/get_events")
    assert rstudio.counts_request("POST", "/rpc/console_input")
    assert rstudio.counts_request("GET", "/")


def test_jupyterlabs_polling_and_layout_saves_are_not_a_person_and_its_writes_are(rules):
    lab = rules["lab"]
    for method, path in [("GET", "/api/kernels"), ("GET", "/api/sessions"), ("GET", "/api/contents"),
                         ("GET", "/api/terminals"), ("PUT", "/lab/api/workspaces/default")]:
        assert not lab.counts_request(method, path), (method, path)
    for method, path in [("PUT", "/api/contents/notes.ipynb"), ("POST", "/api/contents"), ("POST", "/api/sessions")]:
        assert lab.counts_request(method, path), (method, path)


def test_a_route_no_layer_declares_counts_everything_from_the_browser(rules):
    assert "proxy" not in rules
    assert EVERYTHING.counts_message(b"\x09") and EVERYTHING.counts_request("GET", "/anything")


def test_every_declared_rule_reaches_the_image_by_its_apps_name(rules):
    declared = {app.name for app in load_graph(images_dir()).apps() if app.activity}
    assert declared == set(rules) and {"lab", "vscode", "shiny", "rstudio"} <= declared


def test_a_bad_activity_table_is_one_line(tmp_path):
    shutil.copytree(REPO_ROOT / "images" / "base", tmp_path / "base", ignore=shutil.ignore_patterns("labstack-proxy"))
    meta = tmp_path / "base" / "image.toml"
    text = meta.read_text()
    declared = 'idle_requests = ["^GET ", "^PUT /lab/api/workspaces"]'
    for bad, message in [('idle_request = ["^GET "]', "has no 'idle_request'"),
                         ('idle_requests = ["(unclosed"]', "is not a regular expression"),
                         ('idle_requests = "^GET "', "must be a list of regular expressions")]:
        meta.write_text(text.replace(declared, bad))
        with pytest.raises(LabstackError, match=message) as raised:
            load_graph(tmp_path)
        assert "\n" not in str(raised.value)


def test_durations_and_a_keepalive_capped_by_the_server(tmp_path):
    assert [parse_duration(t) for t in ("90s", "30m", "6h", "1d", "45")] == [90, 1800, 21600, 86400, 45]
    with pytest.raises(ValueError):
        parse_duration("6 hours")
    request = tmp_path / "keepalive"
    assert keepalive_until(str(request), cap=60) == 0.0
    request.write_text("0\n")
    request.write_text(f"{request.stat().st_mtime + 86400:.0f}\n")  # a day asked, 60 s allowed
    assert keepalive_until(str(request), cap=60) <= request.stat().st_mtime + 60
    request.write_text(f"{request.stat().st_mtime + 30:.0f}\n")
    assert abs(keepalive_until(str(request), cap=60) - (request.stat().st_mtime + 30)) <= 1


def test_the_hub_setting_drops_the_proxys_count_and_keeps_its_routes():
    import asyncio
    from types import SimpleNamespace

    from jupyterhub.proxy import ConfigurableHTTPProxy

    from labstack.hub import PERSON_ACTIVITY

    config = SimpleNamespace(JupyterHub=SimpleNamespace())
    namespace = {"c": config}
    exec(compile(PERSON_ACTIVITY, "labstack-person-activity", "exec"), namespace)
    proxy_class = config.JupyterHub.proxy_class
    assert issubclass(proxy_class, ConfigurableHTTPProxy)

    async def routes(self):
        return {"/user/alice/": {"routespec": "/user/alice/", "target": "http://10.0.0.5:8888",
                                 "data": {"user": "alice", "server_name": "", "last_activity": "2026-12-01T10:00:00Z"}}}

    original = ConfigurableHTTPProxy.get_all_routes
    ConfigurableHTTPProxy.get_all_routes = routes
    try:
        found = asyncio.run(proxy_class.get_all_routes(proxy_class.__new__(proxy_class)))
    finally:
        ConfigurableHTTPProxy.get_all_routes = original
    assert found["/user/alice/"]["data"] == {"user": "alice", "server_name": ""}
    assert found["/user/alice/"]["target"] == "http://10.0.0.5:8888"
