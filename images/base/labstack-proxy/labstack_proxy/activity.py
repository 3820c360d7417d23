"""Activity means a person: what a hub's idle culler counts, for every proxied app.

jupyter-server-proxy counts every proxied request, every chunk of a response, every websocket message
in either direction and every ping as activity, so an open tab nobody looks at keeps its server alive
for ever: VS Code's keep-alive frames and file-watcher echoes, Shiny's acknowledgements, RStudio's
long poll, JupyterLab's polling of its own API. Here only what comes from the browser counts, and for
each app only what its layer declares a person's doing (`[apps.activity]` in its image.toml, which
the image carries in /usr/local/share/labstack/layers/):

- idle_requests: HTTP requests ("METHOD /path", the path below the app's route) that never count;
- person_messages: when given, only websocket messages from the browser that match one count;
- idle_messages: websocket messages from the browser that never count.

Websocket pings and pongs and whatever an app sends never count. A route without a rule
(/proxy/<port>/) counts every request and every message from the browser. Upstream's own settings
(update_last_activity, exclude_last_activity_patterns) still apply to what is left.

Beside the proxy: work a person left running counts as now, a busy kernel (Jupyter counts only its
last output, so a long silent computation looked idle) and a command running in a terminal (jobs),
and so does a keep-alive a person asked for with `labstack-keepalive`; each for at most
LABSTACK_KEEPALIVE_MAX. What a terminal prints never counts (terminal_output), what is typed does.
"""
from __future__ import annotations

import glob
import os
import re
import time
import tomllib
from dataclasses import dataclass, field

from .upstream import UPSTREAM

LAYERS_DIR = os.environ.get("LABSTACK_LAYERS_DIR", "/usr/local/share/labstack/layers")
KEEPALIVE_FILE = os.environ.get("LABSTACK_KEEPALIVE_FILE", "/tmp/labstack-keepalive")
DEFAULT_KEEPALIVE_MAX = "8h"
MESSAGE_PREFIX = 4096  # what a rule reads of a message: method names come first
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rule:
    idle_requests: tuple[re.Pattern, ...] = ()
    person_messages: tuple[re.Pattern, ...] = ()
    idle_messages: tuple[re.Pattern, ...] = ()

    def counts_request(self, method: str, path: str) -> bool:
        line = f"{method} {path}"
        return not any(pattern.search(line) for pattern in self.idle_requests)

    def counts_message(self, message) -> bool:
        text = message[:MESSAGE_PREFIX].decode("latin-1") if isinstance(message, bytes) else message[:MESSAGE_PREFIX]
        if self.person_messages and not any(pattern.search(text) for pattern in self.person_messages):
            return False
        return not any(pattern.search(text) for pattern in self.idle_messages)


EVERYTHING = Rule()  # a route no layer declares: every request and message from the browser


def rule_from(table: dict) -> Rule:
    """A rule from an [apps.activity] table (labstack.graph checks the same at build time)."""
    return Rule(**{key: tuple(re.compile(pattern) for pattern in table.get(key, ()))
                   for key in ("idle_requests", "person_messages", "idle_messages")})


def load_rules(folder: str = LAYERS_DIR) -> dict[str, Rule]:
    """Each app's rule, by its name (the jupyter-server-proxy server), from the layers in the image."""
    rules: dict[str, Rule] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.toml"))):
        with open(path, "rb") as file:
            layer = tomllib.load(file)
        for app in layer.get("apps", []):
            if "activity" in app:
                rules[app["name"]] = rule_from(app["activity"])
    return rules


@dataclass
class Activity:
    rules: dict[str, Rule] = field(default_factory=dict)
    fallback: Rule = EVERYTHING  # a standalone app's own rule (LABSTACK_ACTIVITY_APP names it)

    def rule(self, handler) -> Rule:
        return self.rules.get(getattr(handler, "name", "") or "", self.fallback)


ACTIVITY = Activity()


# ---- the proxy: what comes from the browser, by the app's rule

def record_nothing(self):
    """ProxyHandler._record_activity's replacement: upstream calls it for traffic in both directions,
    pings and response chunks included; labstack records at the two places a person shows (below)."""


def recorded_lately(handler) -> bool:
    """Recorded within the last second: nothing to read or record (websockets carry many messages)."""
    return time.monotonic() - getattr(handler, "labstack_recorded", -1.0) < 1.0


def record_person(handler) -> None:
    """Upstream's recording (its update_last_activity and exclusions), at most once a second."""
    if recorded_lately(handler):
        return
    handler.labstack_recorded = time.monotonic()
    UPSTREAM["_record_activity"](handler)


def record_request(handler, proxied_path: str) -> None:
    """An HTTP request from the browser counts by the app's rule; opening a websocket does not (a tab
    reconnects on its own), what is sent on it may."""
    from .own_pages import is_websocket_upgrade

    if is_websocket_upgrade(handler.request):
        return
    if ACTIVITY.rule(handler).counts_request(handler.request.method, "/" + proxied_path.lstrip("/")):
        record_person(handler)


def on_message(self, message):
    """A message from the browser counts by the app's rule (flow.on_message, ProxyHandler's, calls it)."""
    if not recorded_lately(self) and ACTIVITY.rule(self).counts_message(message):
        record_person(self)
    return UPSTREAM["on_message"](self, message)


# ---- Jupyter's own API (the "lab" rule): what an open tab polls is not a person

def api_activity_of_a_person(self) -> None:
    """APIHandler.update_api_activity's replacement: requests the lab rule calls idle don't count."""
    path = "/" + self.request.path[len(self.base_url):].lstrip("/")
    if ACTIVITY.rules.get("lab", EVERYTHING).counts_request(self.request.method, path):
        UPSTREAM["update_api_activity"](self)


def terminal_output(self, message, binary: bool = False):
    """TermSocket.write_message's replacement: upstream's without its _update_activity(). What a
    terminal prints is not a person (a `tail -f` in an open tab held its server for ever); what is
    typed still is (TermSocket.on_message), and a running command is work (jobs), under the cap."""
    from tornado.websocket import WebSocketHandler

    return WebSocketHandler.write_message(self, message, binary=binary)


# ---- beside the proxy: busy kernels and a person's keep-alive

def parse_duration(text: str) -> int:
    """'90s', '30m', '6h', '1d' (or plain seconds) in seconds; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 30m, 6h, 1d)")
    return int(match.group(1)) * UNITS[match.group(2) or "s"]


def keepalive_max(env=os.environ) -> int:
    return parse_duration(env.get("LABSTACK_KEEPALIVE_MAX") or DEFAULT_KEEPALIVE_MAX)


def keepalive_lasts() -> bool:
    """A keep-alive a person asked for is running now."""
    return keepalive_until() > time.time()


def keepalive_until(path: str = KEEPALIVE_FILE, cap: int | None = None) -> float:
    """The time (epoch) a keep-alive asked for lasts until, never more than the cap after it was
    asked (the server's own cap: the file is the person's); 0 when none."""
    try:
        asked_at = os.stat(path).st_mtime
        with open(path) as file:
            until = float(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return min(until, asked_at + (keepalive_max() if cap is None else cap))


def last_activity(self):
    """ServerWebApplication.last_activity's replacement: now, while a keep-alive lasts or work a person
    left runs under the cap (jobs: a busy kernel, a command in a terminal); otherwise Jupyter's own
    answer, in which a kernel busy past the cap counts no later than the cap (its output would
    otherwise hold the server for ever)."""
    from datetime import datetime, timezone

    from .jobs import busy_since, counting, terminal_job_counts

    cap = keepalive_max()
    kernels = self.settings["kernel_manager"]
    busy = {kernel_id: since for kernel_id in list(kernels.list_kernel_ids())
            if (since := busy_since(kernels.get_kernel(kernel_id))) is not None}
    past_cap = {kernel_id: since + cap for kernel_id, since in busy.items() if not counting(since, cap)}
    found = UPSTREAM["last_activity"](self) if not past_cap else activity_without_output_past_cap(self, past_cap)
    if len(past_cap) < len(busy) or keepalive_lasts() or terminal_job_counts(cap):
        now = datetime.now(timezone.utc)
        return max(found, now) if found else now
    return found


def activity_without_output_past_cap(self, cap_ends: dict):
    """Jupyter's sources of activity (ServerWebApplication.last_activity), each kernel's own in place
    of the last of all kernels, and a kernel busy past the cap (cap_ends: kernel id -> the epoch its
    cap ended) at most at the cap's end."""
    from datetime import datetime, timezone

    kernels = self.settings["kernel_manager"]
    sources = [self.settings["started"]]
    for kernel_id in list(kernels.list_kernel_ids()):
        kernel_last = getattr(kernels.get_kernel(kernel_id), "last_activity", None)
        if kernel_last is not None and kernel_id in cap_ends:
            kernel_last = min(kernel_last, datetime.fromtimestamp(cap_ends[kernel_id], timezone.utc))
        sources += [kernel_last] if kernel_last is not None else []
    sources += [value for key, value in self.settings.items() if key.endswith("_last_activity")]
    sources += list(self.settings["last_activity_times"].values())
    return max(sources)
