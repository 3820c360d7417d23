"""labstack's images as any uid a cluster assigns: OpenShift's restricted policy (a random uid in group 0,
the image's own home), a pod with `runAsUser` and `fsGroup` (the uid in group 100, an empty home
volume made group 100 and setgid), and Kubernetes' Restricted Pod Security (non-root, no privilege
escalation, every capability dropped, Docker's default seccomp profile, a read-only root filesystem with
only /tmp and the home writable). Jupyter, a kernel, a terminal and every app of the image work, as that
uid."""
import pytest

from jupyter_container import JupyterContainer
from probes import execute_in_kernel, expected_server_names, process_uids, run_in_terminal

# Jupyter as any uid is base's mechanism, checked on base; every app as any uid where every app is, on the
# image with the most layers (rstudio+code-server), not again on the images it is made of.
pytestmark = [pytest.mark.layer_image, pytest.mark.widest_image]

CASES = {
    "uid-12345-group-0-image-home": {"user": "12345:0"},
    # the volume Kubernetes mounts with fsGroup: root's, group 100, setgid, group-writable, empty
    "uid-23456-group-100-empty-volume": {"user": "23456:100", "tmpfs": {"/home/jovyan": "mode=2775,uid=0,gid=100"}},
    # what `build.py profiles --restricted` asks of a pod (seccomp: Docker's default profile, RuntimeDefault)
    "restricted-read-only-root": {"user": "1000:100",
                                  "tmpfs": {"/home/jovyan": "mode=2775,uid=0,gid=100", "/tmp": "mode=1777"},
                                  "run_options": {"read_only": True, "cap_drop": ["ALL"],
                                                  "security_opt": ["no-new-privileges:true"]}},
}


@pytest.fixture(scope="module", params=list(CASES))
def as_any_uid(request, image, spec):
    case = CASES[request.param]
    with JupyterContainer(image(spec), user=case["user"], tmpfs=case.get("tmpfs"),
                          run_options=case.get("run_options", {})) as jupyter:
        yield jupyter, int(case["user"].split(":")[0]), int(case["user"].split(":")[1])


def test_jupyter_runs_as_the_assigned_uid(as_any_uid):
    jupyter, uid, _ = as_any_uid
    assert process_uids(jupyter, "jupyter-lab") == {uid}


def test_a_terminal_has_a_name_and_a_writable_home(as_any_uid):
    """A passwd entry (through nss_wrapper: /etc/passwd is not writable) and a home to write in."""
    jupyter, uid, gid = as_any_uid
    printed = run_in_terminal(jupyter, 'id -u; id -g; whoami; echo ~; touch ~/written && echo home-writable; '
                                       'test -w /etc/passwd || echo passwd-read-only').split()
    assert printed == [str(uid), str(gid), "jovyan", "/home/jovyan", "home-writable", "passwd-read-only"]


def test_a_kernel_runs_and_knows_the_user(as_any_uid):
    jupyter, _, _ = as_any_uid
    assert execute_in_kernel(jupyter, "python3", "import getpass; getpass.getuser()") == "'jovyan'"


def test_every_app_of_the_image_serves(as_any_uid, tmp_path):
    jupyter, uid, _ = as_any_uid
    names = expected_server_names(jupyter)  # none in base: Jupyter itself is checked above
    for name in names:
        response = jupyter.wait_for(f"/{name}/", timeout=120)
        assert response.status_code == 200, name
    if "vscode" in names:
        assert process_uids(jupyter, "out/node/entry") == {uid}
        # users install extensions into the image's folder (outside the home volume) as this uid too
        from vsix import make_vsix

        vsix = jupyter.put_file(make_vsix(tmp_path / "mine.vsix", "labstack-test", "mine"))
        listed = run_in_terminal(jupyter, f"code-server --install-extension {vsix} >/dev/null 2>&1; "
                                          "code-server --list-extensions", timeout=90)
        assert "labstack-test.mine" in listed.split()


def test_r_sessions_get_the_containers_environment(as_any_uid):
    """The start hook writes the container's environment for R sessions that start with a cleaned one
    (RStudio's rsession) in /tmp: under a read-only root too."""
    jupyter, _, _ = as_any_uid
    if "not-found" in jupyter.exec(["sh", "-c", "command -v Rscript || echo not-found"]):
        pytest.skip("no R in this image")
    expected = jupyter.exec(["printenv", "JUPYTER_IP"]).strip()
    assert jupyter.exec(["env", "-i", "/usr/bin/Rscript", "-e", 'cat(Sys.getenv("JUPYTER_IP"))']).strip() == expected
