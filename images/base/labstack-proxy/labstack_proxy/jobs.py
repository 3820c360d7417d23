"""Work a person left running counts as the person: a command in a terminal, a busy kernel, until it
ends, and for at most LABSTACK_KEEPALIVE_MAX (the admin's cap, 8h by default) after it began.

A terminal runs a command when its shell has handed the terminal to another process group: bash and
zsh give every command they run its own group and make it the terminal's foreground, and take the
terminal back at the prompt. So each pseudo-terminal whose session leader (the shell the terminal
started: JupyterLab's, VS Code's, RStudio's) is not its foreground process group has a job. Whether a
tab shows it does not matter; a job put in the background (`cmd &`, Ctrl-Z) does not count.

A job began when its terminal last read input: the pty's access time, what `w` shows as IDLE (the
kernel keeps it to 8 s). The process in front changes with every command of a loop (`while true; do
date; sleep 1; done` runs a new `sleep` each second), the line the person typed does not. A person who
types into the running job (answers a prompt, uses `top`) begins it again.

A kernel began being busy when its state turned busy (MappingKernelManager.start_watching_activity
is where Jupyter reads it; labstack adds a clock to it).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .upstream import UPSTREAM

PTY_MAJORS = range(136, 144)  # Unix98 pseudo-terminals (/dev/pts/N): 136 + N // 256


@dataclass(frozen=True)
class TerminalJob:
    tty: str  # /dev/pts/N
    command: str  # what holds the terminal now (its process group's leader)
    began: float  # epoch seconds: when the terminal last read input
    shell: int = 0  # the terminal's shell (its session's leader), by pid


def _stat_fields(proc: str, pid: str) -> list[str] | None:
    """/proc/PID/stat after the command's name (which may hold spaces and parentheses): field 3 on."""
    try:
        with open(f"{proc}/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # ended meanwhile, or not ours to read


def terminal_jobs(proc: str = "/proc", dev: str = "/dev/pts") -> list[TerminalJob]:
    """Each pseudo-terminal whose foreground is not its shell, with when it last read input."""
    jobs = []
    for pid in (name for name in os.listdir(proc) if name.isdigit()):
        fields = _stat_fields(proc, pid)
        if not fields:
            continue
        session, tty_nr, foreground = int(fields[3]), int(fields[4]), int(fields[5])
        if int(pid) != session or os.major(tty_nr) not in PTY_MAJORS or foreground <= 0 or foreground == session:
            continue
        tty = f"{dev}/{(os.major(tty_nr) - PTY_MAJORS.start) * 256 + os.minor(tty_nr)}"
        try:
            began = os.stat(tty).st_atime
        except OSError:
            continue  # the terminal closed
        try:
            with open(f"{proc}/{foreground}/comm") as file:
                command = file.read().strip()
        except OSError:
            command = "?"  # the group's leader ended; its group still holds the terminal
        jobs.append(TerminalJob(tty, command, began, int(pid)))
    return jobs


def counting(began: float, cap: int, now: float | None = None) -> bool:
    """Work that began then still counts now, under the cap."""
    return (time.time() if now is None else now) - began < cap


def terminal_job_counts(cap: int) -> bool:
    """A job in some terminal counts now (it runs, and began less than the cap ago)."""
    now = time.time()
    try:
        return any(counting(job.began, cap, now) for job in terminal_jobs())
    except OSError:
        return False  # no /proc to read: nothing is counted that cannot be seen


# ---- kernels: when a busy one began

def busy_clock(change) -> None:
    """execution_state's observer on each kernel: when it turned busy, kept until it is not."""
    kernel = change["owner"]
    if change["new"] == "busy":
        if change["old"] != "busy" or getattr(kernel, "labstack_busy_since", None) is None:
            kernel.labstack_busy_since = time.time()
    else:
        kernel.labstack_busy_since = None


def watching_busy_time(self, kernel_id):
    """MappingKernelManager.start_watching_activity's replacement: upstream's, then the busy clock."""
    UPSTREAM["start_watching_activity"](self, kernel_id)
    kernel = self._kernels[kernel_id]
    kernel.observe(busy_clock, names="execution_state")
    if getattr(kernel, "execution_state", "") == "busy":
        kernel.labstack_busy_since = time.time()


def busy_since(kernel) -> float | None:
    """When a busy kernel turned busy, else None. One seen busy with no clock yet starts it now."""
    if getattr(kernel, "execution_state", "") != "busy":
        return None
    if getattr(kernel, "labstack_busy_since", None) is None:
        kernel.labstack_busy_since = time.time()
    return kernel.labstack_busy_since
