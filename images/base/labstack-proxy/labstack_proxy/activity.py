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

Beside the proxy: a kernel that is busy counts as now (Jupyter counts only its last output, so a
long silent computation looked idle), and so does a keep-alive a person asked for with
`labstack-keepalive` (until its time, capped by LABSTACK_KEEPALIVE_MAX).
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
    """ServerWebApplication.last_activity's replacement: now, while a kernel is busy or a keep-alive
    lasts; otherwise Jupyter's own answer."""
    from datetime import datetime, timezone

    found = UPSTREAM["last_activity"](self)
    kernels = self.settings["kernel_manager"]
    busy = any(getattr(kernels.get_kernel(kernel_id), "execution_state", "") == "busy"
               for kernel_id in list(kernels.list_kernel_ids()))
    if busy or keepalive_lasts():
        now = datetime.now(timezone.utc)
        return max(found, now) if found else now
    return found
