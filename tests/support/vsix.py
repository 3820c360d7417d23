"""Make a minimal VS Code extension package (.vsix): used by the tests and the migration fixture."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

# A fixed timestamp keeps the file byte-identical between runs, so the layer that installs it stays cached.
_EPOCH = (2020, 1, 1, 0, 0, 0)


def make_vsix(path: Path, publisher: str, name: str, version: str = "0.0.1") -> Path:
    package = {
        "name": name, "publisher": publisher, "version": version, "displayName": f"{name} (labstack)",
        "description": "A declarative extension made by labstack's tests", "engines": {"vscode": "^1.60.0"},
        "contributes": {"configuration": {"title": name, "properties": {
            f"{name}.probe": {"type": "string", "default": "present"}}}},
    }
    manifest = f"""<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="{name}" Version="{version}" Publisher="{publisher}"/>
    <DisplayName>{name}</DisplayName>
    <Description xml:space="preserve">A declarative extension made by labstack's tests</Description>
    <Properties><Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.60.0"/></Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true"/>
  </Assets>
</PackageManifest>
"""
    content_types = """<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension=".json" ContentType="application/json"/><Default Extension=".vsixmanifest" ContentType="text/xml"/>
</Types>
"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in (("extension.vsixmanifest", manifest), ("[Content_Types].xml", content_types),
                             ("extension/package.json", json.dumps(package, indent=2))):
            archive.writestr(zipfile.ZipInfo(member, _EPOCH), text)
    return path
