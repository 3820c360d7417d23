"""`build.py binder NAME [--repo DIR]`: a user's repository built by repo2docker (or BinderHub) on a
labstack image, through the Dockerfile this writes into its binder folder.

repo2docker's conventions, followed here: configuration lives in `.binder/` or `binder/` when such a
folder exists (the root's files are then ignored), else in the root; a Dockerfile there makes repo2docker
build with it alone and pass the build arguments NB_USER and NB_UID (the user it runs as: jovyan, 1000
on BinderHub); the repository is copied into the home; `apt.txt` lists Debian packages, one per line,
`#` starting a comment; `requirements.txt` is pip's, installed before the rest of the repository is
copied so that editing a notebook does not reinstall the packages. repo2docker starts the image with
`jupyter notebook --ip=0.0.0.0 --port=...`, hence the pinned `notebook` package.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import LabstackError

NOTEBOOK_VERSION = "7.6.5"  # for repo2docker's own `jupyter notebook` command; matches JupyterLab 4.6
CONFIG_FOLDERS = (".binder", "binder")


@dataclass(frozen=True)
class BinderRepo:
    root: Path
    folder: Path  # where repo2docker reads its configuration, and where the Dockerfile goes

    @classmethod
    def find(cls, root: Path) -> "BinderRepo":
        if not root.is_dir():
            raise LabstackError(f"no repository at {root}: pass an existing folder with --repo")
        present = [root / name for name in CONFIG_FOLDERS if (root / name).is_dir()]
        if len(present) > 1:  # repo2docker refuses this too
            raise LabstackError(f"{root} has both .binder/ and binder/: repo2docker accepts one")
        return cls(root, present[0] if present else root / "binder")

    def dockerfile(self, force: bool) -> Path:
        """Where the Dockerfile goes; refused when one is there already and not `force`."""
        target = self.folder / "Dockerfile"
        if target.exists() and not force:
            raise LabstackError(f"{target} exists: pass --force to replace it")
        return target

    def config_file(self, name: str) -> str | None:
        """The file's path relative to the repository, where repo2docker would read it, if present."""
        if self.folder.is_dir() and any(p.name != "Dockerfile" for p in self.folder.iterdir()):
            place = self.folder  # a binder folder with configuration in it: the root's files are ignored
        else:
            place = self.root
        path = place / name
        return str(path.relative_to(self.root)) if path.is_file() else None


def render_dockerfile(base_ref: str, source: str, repo: BinderRepo) -> str:
    """The Dockerfile, FROM base_ref (a digest when the image was pushed); `source` says where it came from."""
    lines = [
        f"# Written by labstack (build.py binder): this repository built by repo2docker or BinderHub on {source}.",
        "# Write it again with --force after adding apt.txt or requirements.txt.",
        f"FROM {base_ref}",
        "",
        "# repo2docker passes the user it runs the image as (BinderHub: jovyan, 1000): jovyan becomes that user.",
        "ARG NB_USER=jovyan",
        "ARG NB_UID=1000",
        "USER root",
        'RUN if [ "${NB_UID}" != "$(id -u jovyan)" ] || [ "${NB_USER}" != jovyan ]; then \\',
        '        usermod --login "${NB_USER}" --uid "${NB_UID}" jovyan; fi',
    ]
    apt = repo.config_file("apt.txt")
    if apt:
        lines += [
            "",
            "# apt.txt: one Debian package per line, # starts a comment (repo2docker's format).",
            f"COPY {apt} /tmp/labstack-binder/apt.txt",
            "RUN --mount=type=secret,id=ca_bundle \\",
            "    sed -e 's/#.*//' /tmp/labstack-binder/apt.txt | xargs -r /usr/local/lib/labstack/apt-install && \\",
            "    rm -rf /tmp/labstack-binder",
        ]
    requirements = repo.config_file("requirements.txt")
    lines += [
        "",
        "# Into the image's Jupyter environment, which the kernels, terminals and VS Code use. A CA bundle for a",
        "# TLS-intercepting proxy comes in as the BuildKit secret ca_bundle (never into a layer).",
    ]
    if requirements:
        lines.append(f"COPY {requirements} /tmp/labstack-binder/requirements.txt")
    lines += [
        "RUN --mount=type=secret,id=ca_bundle . /usr/local/lib/labstack/ca-env.sh && \\",
        f'    pip install --no-cache-dir "notebook=={NOTEBOOK_VERSION}"'
        + (" -r /tmp/labstack-binder/requirements.txt" if requirements else "") + " && \\",
        "    rm -rf /tmp/labstack-binder",
        "",
        "# The repository, into the home (repo2docker's REPO_DIR), owned by the user.",
        'COPY --chown=${NB_UID}:100 . /home/jovyan/',
        "USER ${NB_UID}",
        "WORKDIR /home/jovyan",
        "",
    ]
    return "\n".join(lines)


def write_dockerfile(repo: BinderRepo, text: str, force: bool) -> Path:
    target = repo.dockerfile(force)
    repo.folder.mkdir(exist_ok=True)
    target.write_text(text)
    return target
