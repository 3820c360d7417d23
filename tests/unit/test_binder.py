"""build.py binder: the Dockerfile rendered for repo2docker, and where it reads a repository's files."""
import pytest

from labstack import LabstackError
from labstack.binder import NOTEBOOK_VERSION, BinderRepo, render_dockerfile, write_dockerfile


def repo_with(tmp_path, files: dict[str, str]) -> BinderRepo:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return BinderRepo.find(tmp_path)


def test_a_bare_repository_gets_the_image_its_user_and_its_files(tmp_path):
    text = render_dockerfile("r.example.org/labstack/code-server@sha256:" + "a" * 64, "code-server", repo_with(tmp_path, {}))
    assert "FROM r.example.org/labstack/code-server@sha256:" + "a" * 64 + "\n" in text
    assert "ARG NB_USER=jovyan" in text and "ARG NB_UID=1000" in text
    assert 'usermod --login "${NB_USER}" --uid "${NB_UID}" jovyan' in text
    assert "COPY --chown=${NB_UID}:100 . /home/jovyan/" in text
    assert text.rstrip().endswith("USER ${NB_UID}\nWORKDIR /home/jovyan")  # never left as root
    assert f'"notebook=={NOTEBOOK_VERSION}"' in text  # repo2docker runs `jupyter notebook`
    assert "/tmp/labstack-binder/apt.txt" not in text and "/tmp/labstack-binder/requirements.txt" not in text


def test_root_files_are_installed_before_the_repository_is_copied(tmp_path):
    text = render_dockerfile("img", "img", repo_with(tmp_path, {"requirements.txt": "six\n", "apt.txt": "figlet\n"}))
    assert "COPY apt.txt /tmp/labstack-binder/apt.txt" in text
    assert "COPY requirements.txt /tmp/labstack-binder/requirements.txt" in text
    assert "-r /tmp/labstack-binder/requirements.txt" in text
    # cache-friendly: editing a notebook does not reinstall packages
    assert text.index("requirements.txt") < text.index("COPY --chown")
    assert text.index("apt.txt") < text.index("requirements.txt")
    # the CA bundle only ever as a BuildKit secret
    assert text.count("--mount=type=secret,id=ca_bundle") == 2 and "ca-certificates.crt" not in text


def test_a_binder_folder_with_configuration_wins_over_the_root(tmp_path):
    repo = repo_with(tmp_path, {"requirements.txt": "six\n", "binder/requirements.txt": "tabulate\n"})
    assert repo.folder == tmp_path / "binder"
    assert "COPY binder/requirements.txt " in render_dockerfile("img", "img", repo)


def test_a_binder_folder_holding_only_our_dockerfile_leaves_the_root_files_in_use(tmp_path):
    repo = repo_with(tmp_path, {"requirements.txt": "six\n", "binder/Dockerfile": "FROM x\n"})
    assert "COPY requirements.txt " in render_dockerfile("img", "img", repo)


def test_dot_binder_is_used_when_it_is_there_and_both_are_refused(tmp_path):
    assert BinderRepo.find(repo_with(tmp_path, {".binder/apt.txt": "figlet\n"}).root).folder == tmp_path / ".binder"
    (tmp_path / "binder").mkdir()
    with pytest.raises(LabstackError, match="both .binder/ and binder/"):
        BinderRepo.find(tmp_path)


def test_an_existing_dockerfile_needs_force(tmp_path):
    repo = repo_with(tmp_path, {})
    assert write_dockerfile(repo, "FROM a\n", force=False).read_text() == "FROM a\n"
    with pytest.raises(LabstackError, match="--force"):
        write_dockerfile(repo, "FROM b\n", force=False)
    assert write_dockerfile(repo, "FROM b\n", force=True).read_text() == "FROM b\n"


def test_bad_input_is_one_line_and_exit_2(build_py, tmp_path):
    for args, words in [(["binder", "code-server", "--repo", str(tmp_path / "none")], "no repository at"),
                        (["binder", "nope", "--repo", str(tmp_path)], "unknown image"),
                        (["binder", "mig", "--repo", str(tmp_path)], "built from a container")]:
        result = build_py(*args)
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "binder").exists()


def test_a_dockerfile_already_there_is_kept_unless_forced(build_py, tmp_path):
    assert build_py("binder", "code-server", "--repo", str(tmp_path)).returncode == 0
    (tmp_path / "binder" / "Dockerfile").write_text("FROM mine\n")
    again = build_py("binder", "code-server", "--repo", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert (tmp_path / "binder" / "Dockerfile").read_text() == "FROM mine\n"  # the user's file, untouched
    forced = build_py("binder", "code-server", "--repo", str(tmp_path), "--force")
    assert forced.returncode == 0 and "FROM labstack/code-server:" in (tmp_path / "binder" / "Dockerfile").read_text()


def test_with_no_engine_it_writes_from_the_tag_and_says_so(build_py, tmp_path):
    result = build_py("binder", "code-server", "--repo", str(tmp_path), "--registry", "r.example.org", "--tag", "2026.11")
    assert result.returncode == 0, result.stderr
    assert "FROM r.example.org/labstack/code-server:2026.11\n" in (tmp_path / "binder" / "Dockerfile").read_text()
    assert "no registry digest" in result.stderr
