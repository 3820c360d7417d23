"""Work a person left running (labstack_proxy.jobs): a command in a real terminal (a pty with bash in
it, as JupyterLab's and VS Code's are) and a kernel's busy clock, under the cap."""
import os
import pty
import select
import shutil
import signal
import time

import pytest
from traitlets import HasTraits, Unicode

from labstack_proxy.jobs import busy_clock, busy_since, counting, terminal_jobs


@pytest.fixture
def terminal():
    """bash, interactive, on a pty of its own: (pid, the pty's master fd, its /dev/pts path)."""
    if not shutil.which("bash"):
        pytest.skip("no bash on this machine")
    pid, master = pty.fork()
    if pid == 0:
        # as a terminal's shell starts: a run started in the background (CI's) ignores SIGINT, and bash
        # would hand that on to its commands, which Ctrl-C then could not stop
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
    wait_for_prompt(master)  # bash has taken the terminal: before, under load, the test saw it starting
    tty = os.readlink(f"/proc/{pid}/fd/0")
    yield pid, master, tty
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(master)


def wait_for_prompt(master, seconds=20.0):
    """Read the pty until bash shows its prompt (`bash-5.2# `), as a person waits for it."""
    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            seen += os.read(master, 4096)
            if seen.rstrip().endswith((b"$", b"#")):
                return
    pytest.fail(f"bash showed no prompt within {seconds:.0f} s: {seen[-200:]!r}")


def jobs_on(tty, shell):
    """The jobs of this test's terminal. On a host, /dev/pts/N names as many terminals as there are
    devpts instances (each container has its own): its shell tells this one apart."""
    return [job for job in terminal_jobs() if job.tty == tty and job.shell == shell]


def wait_for(predicate, seconds=10.0):
    for _ in range(int(seconds * 10)):
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_shell_at_its_prompt_has_no_job_and_a_loop_of_short_commands_is_one(terminal):
    pid, master, tty = terminal
    assert tty and tty.startswith("/dev/pts/"), tty
    assert jobs_on(tty, pid) == []
    typed = time.time()
    os.write(master, b"while true; do date > /dev/null; sleep 1; done\n")
    assert wait_for(lambda: jobs_on(tty, pid)), "the loop never showed as a job"
    seen = set()
    for _ in range(3):  # a new `sleep` every second, one job all along, begun when the line was read
        time.sleep(1.1)
        jobs = jobs_on(tty, pid)
        assert len(jobs) == 1, jobs
        seen.add(jobs[0].command)
        assert typed - 9 <= jobs[0].began <= typed + 1, (jobs[0], typed)  # the kernel keeps it to 8 s
    assert "sleep" in seen, seen
    os.write(master, b"\x03")  # Ctrl-C: the shell takes the terminal back
    assert wait_for(lambda: not jobs_on(tty, pid)), jobs_on(tty, pid)


def test_a_job_in_the_background_does_not_count(terminal):
    pid, master, tty = terminal
    os.write(master, b"sleep 30 &\n")
    time.sleep(1.5)
    assert jobs_on(tty, pid) == []


def test_work_counts_until_the_cap_after_it_began():
    assert counting(began=1000.0, cap=60, now=1059.0)
    assert not counting(began=1000.0, cap=60, now=1060.0)


class Kernel(HasTraits):
    execution_state = Unicode("idle")


def test_a_kernels_busy_clock_starts_when_it_turns_busy_and_stops_when_idle():
    kernel = Kernel()
    kernel.observe(busy_clock, names="execution_state")
    assert busy_since(kernel) is None
    before = time.time()
    kernel.execution_state = "busy"
    since = busy_since(kernel)
    assert since is not None and before <= since <= time.time()
    time.sleep(0.01)
    kernel.execution_state = "busy"  # a status busy again (another tracked message) keeps the clock
    assert busy_since(kernel) == since
    kernel.execution_state = "idle"
    assert busy_since(kernel) is None


def test_a_kernel_seen_busy_with_no_clock_starts_one_at_first_sight():
    kernel = Kernel(execution_state="busy")
    first = busy_since(kernel)
    time.sleep(0.01)
    assert busy_since(kernel) == first


class Server:
    """What activity.last_activity reads of Jupyter's ServerWebApplication: its settings."""

    def __init__(self, kernels, **settings):
        class Manager:
            last_kernel_activity = max(kernel.last_activity for kernel in kernels.values())

            def list_kernel_ids(self):
                return list(kernels)

            def get_kernel(self, kernel_id):
                return kernels[kernel_id]

        self.settings = {"kernel_manager": Manager(), "last_activity_times": {}, **settings}


def test_a_kernel_busy_past_the_cap_counts_no_later_than_the_cap_even_while_it_prints(monkeypatch):
    from datetime import datetime, timedelta, timezone

    from labstack_proxy import activity, jobs

    monkeypatch.setattr(jobs, "terminal_job_counts", lambda cap: False)
    monkeypatch.setattr(activity, "keepalive_lasts", lambda: False)
    monkeypatch.setenv("LABSTACK_KEEPALIVE_MAX", "60s")
    from jupyter_server.serverapp import ServerWebApplication  # Jupyter's own, for what is under the cap

    monkeypatch.setitem(activity.UPSTREAM, "last_activity",
                        activity.UPSTREAM.get("last_activity", ServerWebApplication.last_activity))
    now = datetime.now(timezone.utc)
    looping = Kernel(execution_state="busy")
    looping.last_activity = now  # its output, a second ago
    looping.labstack_busy_since = now.timestamp() - 3600
    idle = Kernel(execution_state="idle")
    idle.last_activity = now - timedelta(hours=2)
    server = Server({"loop": looping, "idle": idle}, started=now - timedelta(hours=3),
                    api_last_activity=now - timedelta(minutes=61))
    assert activity.last_activity(server) == datetime.fromtimestamp(looping.labstack_busy_since + 60, timezone.utc)
    looping.labstack_busy_since = now.timestamp() - 30  # under the cap: it counts as now
    assert activity.last_activity(server) >= now
