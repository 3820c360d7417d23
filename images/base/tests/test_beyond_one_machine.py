"""Beyond one machine, on a second engine (Docker 26 + buildx 0.13, scripts/start-engine26) reached as
another machine would be (DOCKER_HOST, and its containers' ports at its own address):

- the file `build.py bake` writes, built by `docker buildx bake`, and the image tests run on its images;
- `build.py build` and `build.py test` against that engine;
- `build.py binder`: a repository built by the real repo2docker on a labstack image, and run the way
  repo2docker runs what it built.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import requests

from jupyter_container import answers, poll_until
from beside import begun
from engine26 import (BAKE_TAG, BASE_IMAGE, CA_BUNDLE, ENV_FILE, SPECS, BakeBeside, bake, build_py, docker_cli, engine26_client,
                      engine26_env, ensure_base_image, repo2docker_build, run, write_user_repo)
from labstack import REPO_ROOT
from image_tests import GRAPH
from labstack.pins import pinned
from labstack.testing.plan import layers_of
from labstack.testing.plan import main_module
from layers_scan import find_in_image

FIGURES = REPO_ROOT / "reports" / "beyond-one-machine.json"  # the timings of the last run, for the README


def record(name: str, value: float | str) -> None:
    figures = json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}
    figures[name] = round(value, 1) if isinstance(value, float) else value
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


def begin_beside(request):
    """The bake, begun when the session starts and built beside the other modules (tests/support/beside.py),
    where a second engine was started."""
    return BakeBeside() if ENV_FILE.is_file() else None


@pytest.fixture(scope="module")
def env26():
    env = engine26_env()
    if begun(__name__) is None:  # else the bake beside makes it, before it bakes
        ensure_base_image(env)
    return env


@pytest.fixture(scope="module")
def baked(env26, tmp_path_factory):
    """The bake file for the whole graph, built by buildx on the Docker 26 engine: {spec: ref}."""
    beside = begun(__name__)
    refs, seconds = beside.result() if beside else bake(env26, BAKE_TAG, tmp_path_factory.mktemp("bake"))
    # beside the other modules it took what CPU they left: its seconds are no build time to compare
    record("bake_seconds" if not beside else "bake_seconds_beside_the_other_tests", seconds)
    return refs


def test_bake_builds_every_image_of_the_graph_with_its_pins(baked, env26):
    """Labels measured from the built images: each layer's pinned versions, as `build.py build` labels them."""
    engine = engine26_client(env26)
    expected = {
        "base": {"io.labstack.jupyterlab.version": pinned("base")["JUPYTERLAB_VERSION"],
                 "io.labstack.jupyter-server-proxy.version": pinned("base")["JUPYTER_SERVER_PROXY_VERSION"]},
        "code-server": {"io.labstack.code-server.version": pinned("code-server")["CODE_SERVER_VERSION"]},
        # without RStudio Server (out of reach here): the label says so
        "rstudio": {"io.labstack.rstudio-server.version": "none"},
    }
    for spec, ref in baked.items():
        labels = engine.images.get(ref).labels
        for layer in {"base", *spec.split("+")}:  # a declared layer pins nothing of its own here
            for key, value in expected.get(layer, {}).items():
                assert labels.get(key) == value, (ref, key, labels.get(key))
    # rstudio+code-server is code-server's layer on top of the rstudio image: its layers start with rstudio's
    combined = engine.images.get(baked["rstudio+code-server"]).attrs["RootFS"]["Layers"]
    rstudio = engine.images.get(baked["rstudio"]).attrs["RootFS"]["Layers"]
    assert combined[:len(rstudio)] == rstudio and len(combined) > len(rstudio)


# Which image tests run on the baked images: "base" (default) the base layer's on the image with the most
# layers (it boots it, probes every app it declares at its default URL, the token, the proxy's allowlist,
# the browser); "layers" every layer's tests on that image; "all" every layer's tests on all four. The same
# Dockerfiles' images have just passed every layer's tests built by `build.py`: what a bake can change is
# how they are built, which the labels, the layer sharing and the base tests see.
BAKE_TESTS = os.environ.get("LABSTACK_BAKE_TESTS", "base")


def test_the_image_tests_pass_on_the_baked_images(baked, env26):
    """jupyter/docker-stacks' way: the tests take image references, and run by hierarchy, booted on the
    Docker 26 engine and probed from here (LABSTACK_BAKE_TESTS above says which)."""
    # the most layers, then the most apps (tidyverse has as many layers as rstudio+code-server)
    widest = max(SPECS, key=lambda spec: (len(GRAPH.plan(spec)), len(GRAPH.apps(spec))))
    chosen = SPECS if BAKE_TESTS == "all" else [widest]
    layers = ["base"] if BAKE_TESTS == "base" else [layer for spec in chosen for layer in layers_of(GRAPH, spec)]
    files = list(dict.fromkeys(str(main_module(GRAPH.layers[layer])) for layer in layers))
    images = [arg for spec in chosen for arg in ("--image", f"{spec}={baked[spec]}")]
    result = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *files, *images], env26, 5400)
    assert result.returncode == 0, result.stdout[-4000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    record("image_tests_on_baked_images", f"{', '.join(chosen)} ({BAKE_TESTS}): {summary}")


REMOTE_TESTS = ("api_answers or served_with_token or redirects_to_login or proxied_only_with_token or "
                "labels_carry_versions or every_declared_app")


def test_build_py_builds_and_tests_on_an_engine_elsewhere(baked, env26, tmp_path):
    """`build.py build` given the engine as a docker context, `build.py test` given it as DOCKER_HOST:
    built there, booted there, probed from here at its address. (After the bake, the same BuildKit holds
    the layers: this build is the bake's cache, as a second run on a shared builder would be.)"""
    config = tmp_path / "docker-config"
    shutil.copytree(env26["DOCKER_CONFIG"], config, symlinks=True)  # buildx, as a CLI plugin
    with_context = {k: v for k, v in env26.items() if k != "DOCKER_HOST"}
    with_context["DOCKER_CONFIG"] = str(config)
    created = run([docker_cli(), "context", "create", "engine26", "--docker", f"host={env26['DOCKER_HOST']}"],
                  with_context, 60)
    assert created.returncode == 0, created.stdout
    with_context["DOCKER_CONTEXT"] = "engine26"
    built = build_py("build", "base", "--tag", "remote", "--base-image", BASE_IMAGE, env=with_context, timeout=1800)
    assert built.returncode == 0, built.stdout[-2000:]
    assert engine26_client(env26).images.get("labstack/base:remote")
    # the plumbing, not base's whole suite again: booted there, reached at its address, with and without
    # the token, through the proxy, labelled as measured there
    tested = build_py("test", "base", "--tag", "remote", "--base-image", BASE_IMAGE, "--pytest-args",
                      "-p", "no:cacheprovider", "-q", "-k", REMOTE_TESTS, env=env26, timeout=1800)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout and " failed" not in tested.stdout


@pytest.fixture
def user_repo(tmp_path):
    return write_user_repo(tmp_path / "analysis")


def test_repo2docker_builds_a_repository_on_a_labstack_image_and_runs_it_as_it_does(
        baked, env26, user_repo, tmp_path, monkeypatch):
    written = build_py("binder", "code-server", "--tag", BAKE_TAG, "--repo", str(user_repo), env=env26, timeout=60)
    assert written.returncode == 0, written.stdout
    assert (user_repo / "binder" / "Dockerfile").read_text().startswith("# Written by labstack")

    image_name = f"labstack-binder-test:{os.getpid()}"
    engine = engine26_client(env26)
    # this host's bundle (it holds the intercepting proxy's CA) with a marker, to look for in every layer
    marker = f"labstack-secret-marker-{os.getpid()}-{time.time_ns()}"
    ca_bundle = tmp_path / "ca-bundle.pem"
    ca_bundle.write_text((Path(CA_BUNDLE).read_text() if Path(CA_BUNDLE).is_file() else "") + f"\n# {marker}\n")
    started = time.monotonic()
    built = repo2docker_build(env26, user_repo, image_name, tmp_path, ca_bundle=str(ca_bundle))
    record("repo2docker_seconds", time.monotonic() - started)
    assert built.returncode == 0, built.stdout[-3000:]
    try:
        _run_as_repo2docker_does(image_name, env26, monkeypatch)
        # the bundle the RUN steps trusted came in as a secret: in no layer, nor the image's config
        assert find_in_image(image_name, [marker], [], engine=engine) == []
    finally:
        engine.images.remove(image_name, force=True)


def _run_as_repo2docker_does(image_name: str, env26: dict, monkeypatch) -> None:
    """repo2docker's own start_container: `jupyter notebook --ip=0.0.0.0 --port=8888`, the port published."""
    import secrets

    from repo2docker.app import Repo2Docker

    from jupyter_container import free_loopback_port

    for key in ("DOCKER_HOST", "DOCKER_CONFIG"):
        monkeypatch.setenv(key, env26[key])
    address, port, token = env26["LABSTACK_ENGINE_ADDRESS"], free_loopback_port(), secrets.token_hex(16)
    app = Repo2Docker(output_image_spec=image_name)
    app.ports = {"8888/tcp": (address, port)}
    app.environment = [f"JUPYTER_TOKEN={token}"]
    app.start_container()
    engine = engine26_client(env26)
    (container,) = engine.containers.list(all=True, filters={"ancestor": image_name})
    try:
        command = container.attrs["Config"]["Cmd"]
        assert command[:2] == ["jupyter", "notebook"] and "--ip=0.0.0.0" in command, command
        headers = {"Authorization": f"token {token}"}
        base = f"http://{address}:{port}"
        poll_until(lambda: answers(f"{base}/api", headers=headers, timeout=2), 120, 0.5,
                   lambda: f"not ready:\n{container.logs().decode(errors='replace')[-3000:]}")
        assert requests.get(f"{base}/lab", headers=headers, timeout=30).status_code == 200
        assert requests.get(f"{base}/lab", timeout=30, allow_redirects=False).status_code in (302, 403)
        vscode = poll_until(lambda: answers(f"{base}/vscode/", headers=headers, timeout=10), 120, 1,
                            lambda: "/vscode/ did not answer 200")
        assert "vscode" in vscode.text.lower() or "workbench" in vscode.text.lower()
        # the repository's files, in the home, the user's
        listed = requests.get(f"{base}/api/contents/", headers=headers, timeout=30).json()["content"]
        assert {"analysis.ipynb", "requirements.txt", "apt.txt"} <= {item["name"] for item in listed}

        def inside(*cmd: str) -> str:
            result = container.exec_run(list(cmd))
            assert result.exit_code == 0, (cmd, result.output.decode(errors="replace"))
            return result.output.decode(errors="replace")

        assert inside("id", "-un").strip() == "jovyan" and inside("id", "-u").strip() == "1000"
        assert inside("stat", "-c", "%U", "/home/jovyan/analysis.ipynb").strip() == "jovyan"
        # requirements.txt in the Jupyter environment the kernels use; apt.txt's package on PATH
        assert "/opt/jupyter/" in inside("python", "-c", "import tabulate; print(tabulate.__file__)")
        assert "|" in inside("figlet", "ok") or "_" in inside("figlet", "ok")
        # the notebook runs: nbconvert executes it with the image's kernel
        executed = inside("jupyter", "nbconvert", "--to", "notebook", "--execute", "--stdout", "analysis.ipynb")
        assert "-  -" in executed and "1  2" in executed, executed[-2000:]
    finally:
        container.remove(force=True)
