"""What a migrated image drops: the secret policy, path by path and variable by variable."""
import pytest

from labstack.migration.rootfs import _dockerfile_env, _rebase, absolute
from labstack.migration.scrub import CODE_SERVER_SECRET_LINE, Policy, remove_lines

DROPPED = {
    "/home/coder/.ssh/id_ed25519": "ssh private key",
    "/config/.ssh/keys/deploy": "ssh private key",
    "/root/.ssh/id_rsa": "ssh private key",
    "/etc/ssh/ssh_host_ed25519_key": "ssh host key",
    "/home/coder/.git-credentials": "git credentials",
    "/home/coder/.config/git/credentials": "git credentials",
    "/home/coder/.netrc": "netrc credentials",
    "/home/coder/.docker/config.json": "container registry credentials",
    "/home/coder/.aws/credentials": "cloud credentials",
    "/home/coder/.aws/sso/cache/abc.json": "cloud credentials",
    "/home/coder/.config/gcloud/credentials.db": "cloud credentials",
    "/home/coder/.config/gcloud": "cloud credentials",
    "/home/coder/.kube/config": "Kubernetes credentials",
    "/home/coder/.config/gh/hosts.yml": "GitHub CLI token",
    "/home/coder/.bash_history": "history",
    "/home/coder/.zsh_history": "history",
    "/home/coder/.python_history": "history",
    "/home/coder/.ipython/profile_default/history.sqlite": "history",
    "/config/.local/share/fish/fish_history": "history",
    "/home/coder/.Rhistory": "history",
}
KEPT = ["/home/coder/.ssh/id_ed25519.pub", "/home/coder/.ssh/known_hosts", "/home/coder/.ssh/config",
        "/home/coder/.ssh", "/home/coder/.aws/config", "/home/coder/.config/code-server/config.yaml",
        "/home/coder/project/history.md", "/home/coder/.kube", "/etc/ssh/ssh_config", "/usr/bin/ssh",
        "/home/coder/.docker/cli-plugins/x", "/home/coder/.bashrc"]


@pytest.mark.parametrize("path", sorted(DROPPED))
def test_secret_files_are_dropped(path):
    assert Policy().file_verdict(path) == DROPPED[path]


@pytest.mark.parametrize("path", KEPT)
def test_ordinary_files_are_kept(path):
    assert Policy().file_verdict(path) is None


def test_keep_opts_a_file_or_folder_back_in():
    policy = Policy(keep_paths=("/home/coder/.ssh/id_deploy", "/home/coder/.aws/"))
    assert policy.file_verdict("/home/coder/.ssh/id_deploy") is None
    assert policy.file_verdict("/home/coder/.aws/credentials") is None
    assert policy.file_verdict("/home/coder/.ssh/id_rsa") == "ssh private key"


def test_code_server_passwords_are_removed_and_the_rest_of_its_config_kept():
    policy = Policy(code_server_configs=("/config/cs.yaml",))
    config = b"bind-addr: 0.0.0.0:8080\nauth: password\npassword: hunter2\n  hashed-password: $argon\ncert: false\n"
    for path in ("/home/coder/.config/code-server/config.yaml", "/config/cs.yaml"):
        pattern = policy.line_filter(path)
        assert pattern is CODE_SERVER_SECRET_LINE
        assert remove_lines(config, pattern) == (b"bind-addr: 0.0.0.0:8080\nauth: password\ncert: false\n", 2)
    assert policy.line_filter("/home/coder/notes/config.yaml") is None


def test_nopasswd_sudo_rules_go_unless_kept():
    sudoers = b"root ALL=(ALL:ALL) ALL\ncoder ALL=(ALL) NOPASSWD:ALL\n"
    for path in ("/etc/sudoers", "/etc/sudoers.d/nopasswd"):
        assert remove_lines(sudoers, Policy().line_filter(path)) == (b"root ALL=(ALL:ALL) ALL\n", 1)
        assert Policy(keep_sudo=True).line_filter(path) is None
    assert remove_lines(b"//r.example.org/:_authToken=abc\nregistry=x\n",
                        Policy().line_filter("/home/coder/.npmrc")) == (b"registry=x\n", 1)


def test_setuid_bits_are_cleared_on_fixuid_and_outside_system_folders():
    policy = Policy(extra_setuid_places=("/config",))
    assert policy.clears_setuid("/usr/local/bin/fixuid", 0o104755)
    assert policy.clears_setuid("/usr/bin/fixuid", 0o104755)
    assert policy.clears_setuid("/opt/tool/helper", 0o102755)
    assert policy.clears_setuid("/config/bin/helper", 0o104755)
    assert not policy.clears_setuid("/usr/bin/passwd", 0o104755)  # Debian's own, from a package
    assert not policy.clears_setuid("/usr/local/bin/tool", 0o100755)
    assert not Policy(keep_sudo=True).clears_setuid("/usr/local/bin/fixuid", 0o104755)


def test_secret_environment_variables_are_dropped_and_reported():
    policy = Policy(keep_env=frozenset({"NPM_TOKEN"}))
    env = ["PATH=/usr/bin", "PASSWORD=x", "HASHED_PASSWORD=y", "GITHUB_TOKEN=z", "MY_SECRET=s", "SSH_KEY=k",
           "AWS_REGION=eu", "SUDO_PASSWORD=p", "NPM_TOKEN=n", "LANG=C.UTF-8", "KEYBOARD=us"]
    assert policy.environment(env) == ["PATH=/usr/bin", "NPM_TOKEN=n", "LANG=C.UTF-8", "KEYBOARD=us"]
    assert "environment variable GITHUB_TOKEN" in policy.dropped


def test_import_env_is_quoted_without_expansion():
    assert _dockerfile_env('NOTE=a "b" $HOME \\x') == 'NOTE="a \\"b\\" \\$HOME \\\\x"'


def test_tar_names():
    assert absolute("./home/x/") == "/home/x"
    assert absolute(".bashrc") == "/.bashrc"
    assert _rebase("config/data/x", "config", "/config") == "config/data/x"
    assert _rebase(".local/share", ".local", "/home/coder/.local") == "home/coder/.local/share"
    assert _rebase(".local", ".local", "/home/coder/.local") == "home/coder/.local"


def test_r_secrets_are_dropped_and_the_rest_of_renviron_kept():
    policy = Policy()
    for path in ("/var/lib/rstudio-server/secure-cookie-key", "/etc/rstudio/secure-cookie-key",
                 "/var/lib/rstudio-server/session-rpc-key"):
        assert policy.file_verdict(path) == "RStudio Server key"
    assert policy.file_verdict("/home/rstudio/.radian_history") == "history"
    renviron = (b"# mine\nGITHUB_PAT=ghp_x\nexport DB_PASSWORD = 'p'\nR_LIBS_USER=~/R/lib\n"
                b"MY_SETTING=on\nAWS_SECRET_ACCESS_KEY=k\nnot an assignment\n")
    for path in ("/home/rstudio/.Renviron", "/usr/local/lib/R/etc/Renviron.site", "/home/rstudio/proj/.Renviron"):
        pattern = policy.line_filter(path)
        assert remove_lines(renviron, pattern) == (b"# mine\nR_LIBS_USER=~/R/lib\nMY_SETTING=on\nnot an assignment\n", 3)
    assert policy.line_filter("/home/rstudio/Renviron.txt") is None
    assert policy.environment(["GITHUB_PAT=x", "PAT=y", "PATH=/bin"]) == ["PAT=y", "PATH=/bin"]
