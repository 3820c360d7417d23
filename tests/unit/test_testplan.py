"""How `build.py test` runs pytest: modules whole, in parallel workers where there are CPUs and modules."""
from labstack.testplan import worker_args


def test_two_cpus_run_two_workers_with_modules_whole():
    assert worker_args(16, {}, 2) == ["-n", "2", "--dist", "loadfile"]


def test_one_cpu_or_one_module_runs_in_one_process():
    assert worker_args(16, {}, 1) == []
    assert worker_args(16, {}, None) == []
    assert worker_args(1, {}, 8) == []


def test_the_environment_sets_the_count_up_to_the_modules():
    assert worker_args(16, {"LABSTACK_TEST_WORKERS": "3"}, 2) == ["-n", "3", "--dist", "loadfile"]
    assert worker_args(2, {"LABSTACK_TEST_WORKERS": "6"}, 2) == ["-n", "2", "--dist", "loadfile"]
    assert worker_args(16, {"LABSTACK_TEST_WORKERS": "1"}, 8) == []
