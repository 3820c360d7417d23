"""RStudio Server can't be downloaded here, so what can be checked without it is checked statically:
the pin, its checksum, the loopback-only conf and the key files a non-root rserver can't read."""
import re

from packaging.version import Version

from labstack import REPO_ROOT
from labstack.pins import pinned

LAYER = REPO_ROOT / "images" / "rstudio"


def arg(name: str) -> str:
    return pinned("rstudio")[name]


def test_pinned_release_has_a_www_socket_and_its_checksum():
    # --www-socket exists from 2024.12 on; 2026.07.1-147 is the release repo2docker pins, with this sha256
    assert arg("RSTUDIO_VERSION") == "2026.07.1-147"
    assert Version(arg("RSTUDIO_VERSION").split("-")[0]) >= Version("2024.12")
    assert arg("RSTUDIO_SHA256") == "118e3fce4cf58ad3bfff1dc6eea3e07f294d51d28fefcc5e1cc559292c0dd06c"
    assert arg("RSTUDIO_URL").startswith("https://download2.rstudio.org/server/jammy/amd64/")
    # jupyter-rsession-proxy passes --www-socket only from 2.3 on, and only when rserver --help lists it
    assert Version(arg("JUPYTER_RSESSION_PROXY_VERSION")) >= Version("2.5.1")
    # each pin is written once, as the build argument's default
    text = (LAYER / "Dockerfile").read_text()
    assert text.count(arg("RSTUDIO_SHA256")) == 1


def test_install_binds_loopback_and_removes_the_baked_keys():
    script = (LAYER / "install-rstudio.sh").read_text()
    conf = script.index('echo "www-address=127.0.0.1" >> /etc/rstudio/rserver.conf')
    assert conf < script.index('if [ "${RSTUDIO_VERSION}" = none ]')  # written with or without RStudio
    assert re.search(r"find /etc/rstudio /var/lib/rstudio-server -name secure-cookie-key -delete "
                     r"-o -name session-rpc-key -delete", script)
    assert 'sha256sum --check' in script
