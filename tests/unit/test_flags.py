"""Every flag of every command either works there or is refused with one line and exit 2: this walks
them all. Build flags must change the BuildSettings the command builds with (build, test, run and bake
all build through labstack.settings); migrate's must reach migrate()."""
import subprocess
from pathlib import Path

import pytest

import build
from labstack.graph import images_dir, load_graph
from labstack.settings import build_settings

GRAPH = load_graph(images_dir())
BUILD_COMMANDS = ("build", "test", "run", "bake")
NOT_SETTINGS = {"--help", "--pytest-args", "--port", "--output", "--lanes"}  # the command's own, checked below


def subcommands():
    parser = build.make_parser(GRAPH)
    return parser._subparsers._group_actions[0].choices


def options(subparser):
    return [action.option_strings[-1] for action in subparser._actions if action.option_strings]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flags")
    pem = folder / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    vsix = folder / "x.vsix"
    vsix.write_bytes(b"PK")
    package = folder / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text("Package: fake-rstudio\nVersion: 2099.01.0-1\n"
                                                "Architecture: all\nMaintainer: t <t@example.org>\nDescription: t\n")
    deb = folder / "fake.deb"
    subprocess.run(["dpkg-deb", "--build", str(package), str(deb)], check=True, capture_output=True)
    return {"--registry": ["r.example.org:5000"], "--owner": ["ds"], "--tag": ["t1"],
            "--base-image": ["debian:bookworm-slim"], "--ca-bundle": [str(pem)], "--no-host-ca": [],
            "--keep-ca-bundle": [], "--network": ["default"], "--no-cache": [], "--no-cache-layer": ["base"],
            "--build-arg": ["A=B"], "--platform": ["linux/arm64"], "--vsix": [str(vsix)],
            "--rstudio-deb": [str(deb)], "--without-rstudio": [],
            "--cran-url": ["https://packagemanager.posit.co/cran/latest"]}


def test_make_and_build_py_build_on_one_network():
    """BuildKit's cache keys include the network mode: `make run` and the README's `python build.py build`
    share one cache only if they agree, so the default is decided in labstack.settings alone."""
    from labstack import REPO_ROOT
    from labstack.settings import DEFAULT_CRAN_URL, DEFAULT_NETWORK, migrate_settings

    parser = build.make_parser(GRAPH)
    assert build_settings(parser.parse_args(["build", "base"]), GRAPH, env={}).network == DEFAULT_NETWORK == "host"
    assert "LABSTACK_NETWORK" not in (REPO_ROOT / "Makefile").read_text()
    migrate_args = parser.parse_args(["migrate", "--container", "c"])
    assert migrate_settings(migrate_args, env={})["network"] == DEFAULT_NETWORK
    assert migrate_settings(migrate_args, env={})["cran_url"] == DEFAULT_CRAN_URL
    assert build_settings(parser.parse_args(["build", "base", "--network", "default"]), GRAPH, env={}).network is None
    assert build_settings(parser.parse_args(["build", "base"]), GRAPH, env={"LABSTACK_NETWORK": "default"}).network is None


@pytest.mark.parametrize("command", BUILD_COMMANDS)
def test_every_build_flag_changes_the_settings(command, samples):
    parser = build.make_parser(GRAPH)
    spec = ["base"]
    baseline = build_settings(parser.parse_args([command, *spec]), GRAPH, env={})
    for option in options(subcommands()[command]):
        if option in NOT_SETTINGS:
            continue
        assert option in samples, f"{command} {option}: a new flag needs a sample here, and must work or be refused"
        settings = build_settings(parser.parse_args([command, *spec, option, *samples[option]]), GRAPH, env={})
        assert settings != baseline, f"{command} {option} changes nothing"


def test_contradicting_layer_flags_are_refused(samples):
    parser = build.make_parser(GRAPH)
    args = parser.parse_args(["build", "rstudio", "--without-rstudio", "--rstudio-deb", *samples["--rstudio-deb"]])
    with pytest.raises(Exception, match="--rstudio-deb and --without-rstudio contradict each other"):
        build_settings(args, GRAPH, env={})


def test_an_explicit_deb_beats_the_environment_default(samples):
    parser = build.make_parser(GRAPH)
    args = parser.parse_args(["build", "rstudio", "--rstudio-deb", *samples["--rstudio-deb"]])
    settings = build_settings(args, GRAPH, env={"LABSTACK_WITHOUT_RSTUDIO": "1"})
    assert settings.layer_args["rstudio"] == {"RSTUDIO_VERSION": "2099.01.0-1"}
    assert settings.layer_files["rstudio"] == [Path(samples["--rstudio-deb"][0])]
    both_from_env = build_settings(parser.parse_args(["build", "rstudio"]), GRAPH,
                                   env={"LABSTACK_WITHOUT_RSTUDIO": "1", "LABSTACK_RSTUDIO_DEB": samples["--rstudio-deb"][0]})
    assert both_from_env.layer_args["rstudio"] == {"RSTUDIO_VERSION": "2099.01.0-1"}


def test_migrate_passes_every_flag_on(monkeypatch, samples, tmp_path):
    for variable in ("LABSTACK_NETWORK", "LABSTACK_CA_BUNDLE", "LABSTACK_NO_HOST_CA", "REGISTRY", "OWNER", "TAG",
                     "LABSTACK_CRAN_URL"):
        monkeypatch.delenv(variable, raising=False)  # only the flags decide here (the Makefile exports some)
    seen = {}
    monkeypatch.setattr("labstack.migration.migrate.migrate", lambda **kwargs: seen.update(kwargs) or {"image": "x"})
    values = {"--container": ["c"], "--tag": ["t/x:1"], "--user": ["abc"], "--keep": ["/home/a/.netrc"],
              "--keep-env": ["NPM_TOKEN"], "--keep-sudo": [], "--skip-mount": ["/config"],
              "--max-copy-size": ["1G"], "--registry": ["r.example.org:5000"], "--owner": ["ds"],
              "--ca-bundle": samples["--ca-bundle"], "--no-host-ca": [], "--network": ["default"], "--no-cache": [],
              "--build-arg": ["A=B"], "--hub-user": ["alice"], "--cran-url": ["https://cran.example.org"]}
    assert build.main(["migrate", "--container", "c"]) == 0
    baseline = dict(seen)
    for option in options(subcommands()["migrate"]):
        if option in ("--help", "--container", "--from-image"):
            continue
        assert option in values, f"migrate {option}: a new flag needs a check here"
        seen.clear()
        assert build.main(["migrate", "--container", "c", option, *values[option]]) == 0
        assert seen != baseline, f"migrate {option} changes nothing"


def test_bake_stages_the_files_its_targets_mount(samples, tmp_path, monkeypatch):
    from labstack import staging

    monkeypatch.setattr(staging, "STAGE_ROOT", tmp_path / "stage")
    out = tmp_path / "bake.json"
    assert build.main(["bake", "rstudio+code-server", "-o", str(out), "--no-host-ca",
                       "--rstudio-deb", samples["--rstudio-deb"][0], "--vsix", samples["--vsix"][0]]) == 0
    assert (tmp_path / "stage" / "rstudio" / "fake.deb").is_file()
    assert (tmp_path / "stage" / "code-server" / "x.vsix").is_file()
    assert '"RSTUDIO_VERSION": "2099.01.0-1"' in out.read_text()


def test_a_value_flag_and_its_environment_default_become_the_layers_build_argument():
    parser = build.make_parser(GRAPH)
    mirror = "https://packagemanager.posit.co/cran/latest"
    given = build_settings(parser.parse_args(["build", "rstudio", "--cran-url", mirror]), GRAPH, env={})
    assert given.layer_args == {"rstudio": {"LABSTACK_CRAN_URL": mirror}}
    from_env = build_settings(parser.parse_args(["build", "rstudio"]), GRAPH, env={"LABSTACK_CRAN_URL": "https://cran.example.org"})
    assert from_env.layer_args == {"rstudio": {"LABSTACK_CRAN_URL": "https://cran.example.org"}}
    explicit = build_settings(parser.parse_args(["build", "rstudio", "--cran-url", mirror]), GRAPH,
                              env={"LABSTACK_CRAN_URL": "https://cran.example.org"})
    assert explicit.layer_args["rstudio"]["LABSTACK_CRAN_URL"] == mirror
