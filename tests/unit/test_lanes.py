"""The image tests' lanes (labstack/lanes.py): how modules are dealt, and how the lanes run and end."""
import sys
from pathlib import Path

from labstack.testing.lanes import NO_TESTS_RAN, SECONDS_FILE, combined, deal, module_seconds, run_lanes
from labstack.testing.plan import sibling_groups

SECONDS = {"test_a.py": 300, "test_b.py": 200, "test_c.py": 150, "test_d.py": 100, "test_e.py": 50}


def test_the_longest_modules_are_dealt_first_to_the_lane_with_the_fewest_seconds():
    modules = [[f"images/x/tests/test_{name}.py"] for name in "abcde"]
    first, second = deal(modules, 2, SECONDS)
    assert first == ["images/x/tests/test_a.py", "images/x/tests/test_d.py"]  # 300 + 100
    assert second == ["images/x/tests/test_b.py", "images/x/tests/test_c.py", "images/x/tests/test_e.py"]  # 200 + 150 + 50


def test_a_module_not_measured_counts_as_the_mean_and_order_is_kept():
    first, second = deal([["test_new.py"], ["test_a.py"], ["test_e.py"]], 2, SECONDS)  # test_new: 160 s
    assert first == ["test_a.py"]
    assert second == ["test_new.py", "test_e.py"]


def test_a_layers_sibling_modules_are_one_group_and_share_a_lane():
    modules = ["test_base.py", "test_code_server.py", "test_mig.py", "test_mig_r.py", "test_migrate.py"]
    groups = sibling_groups(modules)
    assert groups == [["test_base.py"], ["test_code_server.py"], ["test_mig.py", "test_mig_r.py"], ["test_migrate.py"]]
    seconds = {"test_mig.py": 280, "test_mig_r.py": 200, "test_base.py": 230, "test_code_server.py": 220,
               "test_migrate.py": 1}
    first, second = deal(groups, 2, seconds)
    assert first == ["test_mig.py", "test_mig_r.py"]
    assert second == ["test_base.py", "test_code_server.py", "test_migrate.py"]


def test_no_more_lanes_than_modules_and_one_lane_is_the_whole_list():
    assert deal([["test_a.py"]], 2, SECONDS) == [["test_a.py"]]
    assert deal([["test_b.py"], ["test_a.py"]], 1, SECONDS) == [["test_b.py", "test_a.py"]]


def test_the_committed_seconds_name_modules_that_exist():
    seconds = module_seconds()
    assert seconds, f"{SECONDS_FILE} lists no module"
    from labstack.graph import images_dir, load_graph
    from labstack.testing.plan import declared_modules, layer_modules

    graph = load_graph(images_dir())
    existing = {Path(module).name for layer in graph.layers.values() for module in layer_modules(layer)}
    existing |= {Path(module).name for module in declared_modules()}
    missing = [name for name in seconds if name not in existing]
    assert not missing, f"{SECONDS_FILE.name} names modules that are gone: {missing}"


def test_a_failing_lane_fails_the_run_and_a_lane_that_selected_nothing_does_not():
    assert combined([0, 0]) == 0
    assert combined([0, 1]) == 1
    assert combined([NO_TESTS_RAN, 0]) == 0
    assert combined([NO_TESTS_RAN, NO_TESTS_RAN]) == NO_TESTS_RAN
    assert combined([2, 1]) == 2


def test_the_lanes_run_at_once_each_in_a_session_of_its_own_and_their_lines_say_which(capfd, tmp_path):
    # each lane waits (5 s at most) for a file the other writes: run one after the other, the first gives up
    script = ("import os, pathlib, sys, time; here = pathlib.Path(sys.argv[1]); here.touch(); "
              "other = pathlib.Path(sys.argv[2]); deadline = time.monotonic() + 5\n"
              "while not other.exists() and time.monotonic() < deadline: time.sleep(0.05)\n"
              "print(os.environ['LABSTACK_SMOKE_SESSION'], other.exists(), flush=True); sys.exit(int(sys.argv[3]))")
    one, two = tmp_path / "one", tmp_path / "two"
    code = run_lanes([[sys.executable, "-c", script, str(one), str(two), "0"],
                      [sys.executable, "-c", script, str(two), str(one), "3"]],
                     {"LABSTACK_SMOKE_SESSION": "run"}, tmp_path)
    assert code == 3
    assert sorted(capfd.readouterr().out.splitlines()) == ["[1] run-1 True", "[2] run-2 True"]
