"""`make bench` runs tests/bench.py on its own, outside pytest: its imports must resolve from where the
helpers live now (they moved into layers' folders once, and `make bench` broke unseen)."""
import importlib.util
import sys

from labstack import REPO_ROOT


def test_bench_imports_its_helpers(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # bench.py puts its folders first: undone after
    spec = importlib.util.spec_from_file_location("labstack_bench", REPO_ROOT / "tests" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs nothing: main() is for __main__ only
    assert callable(module.main) and module.LegacyContainer.__module__ == "legacy"
