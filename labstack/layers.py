"""Per-layer hooks: the build arguments and staged files a layer's own flags turn into."""
from __future__ import annotations

import subprocess
from pathlib import Path

from . import LabstackError


def deb_version(path: Path) -> str:
    """The Version field of a .deb, so the image's label names what was really installed."""
    if not path.is_file():
        raise LabstackError(f"no such file: {path}")
    try:
        result = subprocess.run(["dpkg-deb", "--field", str(path), "Version"],
                                capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return "local"  # not a Debian host: the build still installs it, the label says "local"
    if result.returncode != 0 or not result.stdout.strip():
        raise LabstackError(f"{path} is not a readable .deb package")
    return result.stdout.strip().replace("+", "-")


def rstudio_hooks(without_rstudio: bool, rstudio_deb: Path | None) -> tuple[dict[str, str], list[Path]]:
    if without_rstudio and rstudio_deb:
        raise LabstackError("--rstudio-deb and --without-rstudio contradict each other")
    if without_rstudio:
        return {"RSTUDIO_VERSION": "none"}, []
    assert rstudio_deb is not None
    return {"RSTUDIO_VERSION": deb_version(rstudio_deb)}, [rstudio_deb]
