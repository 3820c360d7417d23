"""Everything a build reads from build/stage/, the staging folder inside the build context (the
repository root), written here and only here: the files a layer's flags name (a .deb, .vsix files) in
build/stage/<layer>/, a declared layer's rendered Dockerfile, drop-in and folder in
build/stage/<layer>/declared/, and the empty context of the label step. Each writer keeps to its own
part, so no order between them matters.

Two builds may read the same staged files while a third stages them again: the tests bake the graph on a
second engine while the host's builds run (tests/support/engine26.py), and an admin may run two builds
side by side. So staging never empties a folder first: a file whose content is already there is left as
it is (untouched, not even rewritten), a changed one is replaced whole (written beside, then renamed),
and only what is no longer wanted is removed.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from . import REPO_ROOT
from .declared import NOT_STAGED, Declaration, render_dockerfile, render_drop_in

STAGE_ROOT = REPO_ROOT / "build" / "stage"
LABEL_CONTEXT = STAGE_ROOT / "labels"  # a folder with nothing in it: the label step's Dockerfile reads no file
DECLARED_DIR = "declared"  # in the layer's staging folder, beside the files its flags stage


def _replace(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, target)  # a reader sees the old file or the new one, never half of one
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(target: Path, text: str) -> None:
    # 0644, as a new file is (mkstemp makes it 0600): a drop-in COPY'd into an image is read by jovyan
    if target.is_file() and target.read_text() == text:
        if target.stat().st_mode & 0o777 != 0o644:
            target.chmod(0o644)
        return

    def write(path: Path) -> None:
        path.write_text(text)
        path.chmod(0o644)

    _replace(target, write)


def copy_file(source: Path, target: Path) -> None:
    if target.is_file() and filecmp.cmp(source, target, shallow=False):
        if target.stat().st_mode != source.stat().st_mode:  # made executable since, say
            shutil.copymode(source, target)
        return
    _replace(target, lambda path: shutil.copy2(source, path))


def _remove(entry: Path) -> None:
    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def sync_files(folder: Path, files: list[Path], keep: tuple[str, ...] = ()) -> None:
    """folder holds exactly `files` (by name), besides the entries named in `keep`."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {source.name: source for source in files}
    for entry in folder.iterdir():
        if entry.name not in wanted and entry.name not in keep:
            _remove(entry)
    for name, source in wanted.items():
        copy_file(source, folder / name)


def sync_tree(source: Path, target: Path, ignore) -> None:
    """target becomes a copy of source (files and folders `ignore(name)` says nothing of)."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {entry.name: entry for entry in source.iterdir() if not ignore(entry.name)}
    for entry in target.iterdir():
        if entry.name not in wanted or entry.is_dir() != wanted[entry.name].is_dir():
            _remove(entry)
    for name, entry in wanted.items():
        if entry.is_dir():
            sync_tree(entry, target / name, ignore)
        else:
            copy_file(entry, target / name)


def declared_folder(layer: str, stage_root: Path | None = None) -> Path:
    return (stage_root or STAGE_ROOT) / layer / DECLARED_DIR


def declared_context_path(layer: str) -> str:
    """Where a declared layer's inputs are, relative to the build context, as its Dockerfile names them."""
    return declared_folder(layer).relative_to(REPO_ROOT).as_posix()


def stage_files(layer: str, files: list[Path], stage_root: Path | None = None) -> None:
    """The layer's staging folder holds exactly these files (checked by build_spec before anything is
    pulled); the declared/ folder beside them is stage_declared's."""
    sync_files((stage_root or STAGE_ROOT) / layer, files, keep=(DECLARED_DIR,))


def stage_declared(layer: str, parent: str, folder: Path, declaration: Declaration,
                   stage_root: Path | None = None, repo_root: Path | None = None) -> Path:
    """Write a declared layer's build inputs: its folder's files, the drop-in and the Dockerfile.
    Returns the Dockerfile's path."""
    target = declared_folder(layer, stage_root)
    sync_tree(folder, target / "folder", lambda name: any(fnmatch(name, p) for p in NOT_STAGED))
    drop_in = target / f"60-{layer}.py"
    if declaration.apps:
        write_text(drop_in, render_drop_in(layer, declaration))
    else:
        drop_in.unlink(missing_ok=True)
    dockerfile = target / "Dockerfile"
    staged = target.relative_to(repo_root or REPO_ROOT).as_posix()
    write_text(dockerfile, render_dockerfile(layer, parent, declaration, staged))
    return dockerfile


def stage_layer(layer, files: list[Path]) -> None:
    """What a build of this graph layer reads: the files its flags name, and a declared layer's inputs."""
    stage_files(layer.name, files)
    if layer.declaration:
        stage_declared(layer.name, layer.parent, layer.folder, layer.declaration)
