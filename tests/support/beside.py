"""Work begun as the session starts and run in a thread beside the other modules.

A module whose scenario is long and mostly waits (the bake on the second engine; a hub whose idle
servers must be culled) defines `begin_beside(request) -> Beside | None`. conftest calls it before the
first test, runs that module last, and the module's fixture takes the outcome with `begun(name)`;
where nothing was begun (LABSTACK_BESIDE=0, or the module declined), the fixture does the work itself,
in place, as before. A failure in the thread fails the tests that take its outcome."""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

_BEGUN: dict[str, "Beside"] = {}  # module name: its work, begun for this session


class Beside:
    def __init__(self, name: str, work: Callable[[], Any]):
        self.name = name
        self.outcome: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work,), name=f"beside-{name}", daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self.outcome = work()
        except BaseException as error:  # raised by result(), in the test that waits for it
            self.error = error

    def result(self, timeout: float) -> Any:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"{self.name}, begun beside the other tests, did not end within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.outcome

    def stop(self) -> None:
        """The session ends: wait (a minute at most) for the work. A subclass that can end its work
        early does it here (BakeBeside kills its commands); what is left, the engine fixture removes."""
        self.thread.join(60)


def wanted() -> bool:
    return os.environ.get("LABSTACK_BESIDE", "1") != "0"


def begin(modules, request) -> None:
    """Each module's work, begun once, in the order the modules run."""
    if not wanted():
        return
    for module in modules:
        if module.__name__ not in _BEGUN:
            work = module.begin_beside(request)
            if work is not None:
                _BEGUN[module.__name__] = work


def begun(name: str) -> Beside | None:
    return _BEGUN.get(name)


def stop_all() -> None:
    while _BEGUN:
        _BEGUN.popitem()[1].stop()
