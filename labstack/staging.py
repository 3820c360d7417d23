"""Writing a build's inputs into build/stage/ so that two builds at once can share it.

Two builds may read the same staged files while a third stages them again: the tests bake the graph on a
second engine while the host's builds run (tests/images/engine26.py), and an admin may run two builds
side by side. So staging never empties a folder first: a file whose content is already there is left as
it is (untouched, not even rewritten), a changed one is replaced whole (written beside, then renamed),
and only what is no longer wanted is removed.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from pathlib import Path


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
