"""The versions a hand-written layer pins: `ARG NAME=VALUE` lines of its Dockerfile, each written there only."""
from __future__ import annotations

import re
from pathlib import Path


def pinned(layer: str, folder: Path | None = None) -> dict[str, str]:
    """The build arguments the layer's Dockerfile (in `folder`, else images/<layer>/) pins."""
    from . import REPO_ROOT  # read at call time: a test may point the repository elsewhere

    text = ((folder or REPO_ROOT / "images" / layer) / "Dockerfile").read_text()
    return dict(re.findall(r"^ARG ([A-Z0-9_]+)=(\S+)$", text, re.MULTILINE))
