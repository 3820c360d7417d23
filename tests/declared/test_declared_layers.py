"""What a declared layer (a folder with an image.toml and no Dockerfile) declares, checked on every image
that holds one: each Debian and R package installed, each pip package at its pin in Jupyter's
environment, each app answering at its route with its marker, in the launcher, refused without Jupyter's
login, and listening on 127.0.0.1 or a unix socket only. The parents' own tests run on the same image by
hierarchy; a layer adds nothing here."""
import json

import pytest

from image_tests import GRAPH
from jupyter_container import JupyterContainer
from labstack.testing.plan import layers_of
from probes import LOOPBACK_HEX, app_sockets, assert_app_answers, assert_refused, servers_info_names



def declared_layers(spec):
    return [GRAPH.layer(name) for name in layers_of(GRAPH, spec) if GRAPH.layer(name).declaration]


@pytest.fixture(scope="module")
def jupyter(image, spec):
    with JupyterContainer(image(spec)) as jupyter:
        yield jupyter


def test_debian_and_r_packages_are_installed(jupyter, spec):
    for layer in declared_layers(spec):
        for package in layer.declaration.apt:
            assert jupyter.exec(["dpkg-query", "-W", "-f=${Status}", package]) == "install ok installed", package


def test_r_packages_load_in_r(jupyter, spec):
    names = [name for layer in declared_layers(spec) for name in layer.declaration.r]
    if not names:
        pytest.skip(f"{spec}'s declared layers name no R package")
    script = "; ".join(f"suppressPackageStartupMessages(library({name}))" for name in names) + "; cat('loaded')"
    assert jupyter.exec(["Rscript", "-e", script]).strip().endswith("loaded")


def test_pip_packages_are_at_their_pins_in_jupyters_environment(jupyter, spec):
    pins = dict(pin.split("==") for layer in declared_layers(spec) for pin in layer.declaration.pip)
    if not pins:
        pytest.skip(f"{spec}'s declared layers name no pip package")
    script = ("import importlib.metadata as m, json, sys; "
              "print(json.dumps({n: m.version(n.split('[')[0]) for n in sys.argv[1:]}))")
    found = json.loads(jupyter.exec(["/opt/jupyter/bin/python", "-c", script, *pins]).strip().splitlines()[-1])
    assert found == pins


def test_each_declared_app_answers_in_the_launcher_and_only_with_login(jupyter, spec):
    apps = [app for layer in declared_layers(spec) for app in layer.apps]
    if not apps:
        pytest.skip(f"{spec}'s declared layers declare no app")
    for app in apps:
        assert app.name in servers_info_names(jupyter)
        assert_app_answers(jupyter, app, timeout=120)
        assert_refused(jupyter, app.default_url)
    # every app is up now: none listens beyond loopback (a unix socket is not a TCP listener at all)
    sockets = app_sockets(jupyter)
    assert all(s["address"] in LOOPBACK_HEX for s in sockets), sockets
