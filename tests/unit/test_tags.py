import pytest

from labstack import LabstackError
from labstack.tags import Naming


def test_default_tags_have_owner_name_and_version():
    naming = Naming(owner="labstack", tag="latest", version_tag="0.1.0-abc1234")
    assert naming.tags("base") == ["labstack/base:latest", "labstack/base:0.1.0-abc1234"]


def test_registry_prefixes_every_tag():
    naming = Naming(registry="localhost:5000", owner="uni/ds", tag="2026.11", version_tag="0.1.0")
    assert naming.tags("rstudio-code-server") == [
        "localhost:5000/uni/ds/rstudio-code-server:2026.11",
        "localhost:5000/uni/ds/rstudio-code-server:0.1.0",
    ]


def test_version_tag_is_not_repeated():
    assert Naming(tag="0.1.0", version_tag="0.1.0").tags("base") == ["labstack/base:0.1.0"]


def test_environment_sets_registry_owner_tag(monkeypatch):
    monkeypatch.setenv("REGISTRY", "registry.example.org")
    monkeypatch.setenv("OWNER", "team")
    monkeypatch.setenv("TAG", "stable")
    naming = Naming.from_environment()
    assert naming.tags("base")[0] == "registry.example.org/team/base:stable"
    assert Naming.from_environment(owner="flag").owner == "flag"  # flags win over the environment


@pytest.mark.parametrize("kwargs", [
    {"owner": "Upper"}, {"owner": "bad owner"}, {"tag": "no:colons"}, {"tag": "-leading"},
    {"registry": "bad/registry"},
])
def test_bad_names_are_rejected(kwargs):
    with pytest.raises(LabstackError):
        Naming(**kwargs).validate()
