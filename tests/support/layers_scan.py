"""Read every layer of an image, as `docker save` hands it out, and its config: where secrets must not be."""
from __future__ import annotations

import io
import json
import tarfile

from labstack.engine import client
from labstack.migration.rootfs import stream


def find_in_image(ref: str, needles: list[str], paths: list[str], engine=None) -> list[str]:
    """Where any needle occurs (file contents, every layer, unpacked; the image config) or any of the
    absolute paths exists as a file in any layer: one line each. Empty means none was found.
    `engine`: a docker client for another engine than labstack's own."""
    engine = engine or client()
    found = []
    wanted = {path.lstrip("/") for path in paths}
    encoded = [needle.encode() for needle in needles]
    config = json.dumps(engine.images.get(ref).attrs)
    found += [f"image config: {needle}" for needle in needles if needle in config]
    with stream(engine.images.get(ref).save(named=False)) as saved:
        for entry in saved:
            if not entry.isfile():
                continue
            data = saved.extractfile(entry)
            if entry.size < 1 << 20:  # configs, manifests, small layers: scan the bytes, then as a tar
                content = data.read()
                found += [f"{entry.name} holds {n.decode()}" for n in encoded if n in content]
                data = io.BytesIO(content)
            try:
                layer = tarfile.open(fileobj=data, mode="r|")
                with layer:
                    for member in layer:
                        name = member.name[2:] if member.name.startswith("./") else member.name
                        if name.rstrip("/") in wanted and not member.isdir():
                            found.append(f"{entry.name}: {name} exists")
                        if member.isfile():
                            content = layer.extractfile(member).read()
                            found += [f"{entry.name}: {name} holds {n.decode()}" for n in encoded if n in content]
            except tarfile.ReadError:
                if entry.size >= 1 << 20:
                    found.append(f"{entry.name}: a large entry that is not a tar, not scanned")
    return found
