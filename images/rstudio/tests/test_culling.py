"""A hub culls what nobody uses and keeps what someone does, through a real hub at a reduced size.

One JupyterHub (configurable-http-proxy in front, DockerSpawner, the rstudio+code-server image) with
jupyterhub-idle-culler as its service (TIMEOUT, checked every CULL_EVERY seconds), the hub config
labstack prints (labstack-person-activity) and single-user servers that report activity every few
seconds. One user per app, each with a tab open in a real browser:

- lab: a notebook whose cell sleeps through the person phase (a busy kernel), then nothing;
- vscode: a file and a terminal, typed into; vscode-alone: VS Code alone (no notebook server), a file
  typed into;
- shiny: the example app, its slider moved;
- port: a websocket app on /proxy/<port>/ that pings and sends heartbeats, a button sending on it;
- keep: no tab, `labstack-keepalive 2h` under LABSTACK_KEEPALIVE_MAX (cut to the cap, said so);
- labjob, codejob, alonejob: a loop typed into a terminal (JupyterLab's, VS Code's, VS Code alone's)
  that prints every second for JOB_SECONDS, its tab open and untouched; nojob: the same in JupyterLab,
  its tab closed once typed;
- capjob: a loop that never ends in JupyterLab's terminal, capkernel: a cell that never ends, both
  under a cap of KEEPALIVE_CAP.

For PERSON_PHASE (3 timeouts) every one of them is kept; then the tabs stay open, untouched, and each
server must be culled within IDLE_LASTS of its last person event (keep: of its keep-alive's end): the
timeout, the report that tells the hub, the culler's next check or the one after, its own pass; plus the time
the culler spent stopping other servers after this one went idle. Both the cull (the culler's stop
reaching the hub) and that time are read from the hub's log. A job's server
must outlive the job (JOB_SECONDS, past IDLE_LASTS: only the job explains it), then go within
IDLE_LASTS of its end; a capped one must outlive IDLE_LASTS, then go within IDLE_LASTS of its cap.
jupyterhub-idle-culler 2.0.0 awaits one user after another, so servers idle in one check go one stop
after the other, and its next check waits for a pass still stopping: a server that went idle during
a pass of stops waits for all of them. Writes reports/culling.json: seconds from the last person
event to the cull.
"""
import json
import os
import re
import secrets
import sys
import time
from contextlib import contextmanager

import docker.errors
import pytest

from labstack import REPO_ROOT
from labstack.containers import remove_stray_containers
from tracked import session_filter
from labstack.hub import CULL_NOTICE, PERSON_ACTIVITY
from beside import Beside, begun
from jupyter_container import copy_into
from realhub import docker_spawner_config, api, logged_in, running_hub, server_url, spawn_all
from services import Service, require

TIMEOUT, CULL_EVERY, REPORT_EVERY = 40, 5, 5
PERSON_PHASE = 3 * TIMEOUT
PERSON_EVERY = 8  # seconds between a person's actions: well inside TIMEOUT, whatever a slow step costs
# How long an untouched server may last: the timeout, the report telling the hub (up to one interval
# late), and the culler's next check, or the one after: its checks are a tornado PeriodicCallback, which
# skips a tick while the last pass still runs, and under CI's load a pass (the hub's user list, a
# decision for each) ran past the period: keep was culled 53.5 s after its keep-alive ended, with no
# other stop in between. Then 3 s for the pass itself.
IDLE_LASTS = TIMEOUT + REPORT_EVERY + 2 * CULL_EVERY + 3
KEEPALIVE_CAP = 60  # seconds: past IDLE_LASTS, so that only the keep-alive can explain the server staying
JOB_SECONDS = 90  # past IDLE_LASTS, and ending inside the person phase
JOBS = ("labjob", "codejob", "alonejob", "nojob")  # a terminal job that ends; the cap is the default 8h
CAPPED = ("keep", "capjob", "capkernel")  # under LABSTACK_KEEPALIVE_MAX = KEEPALIVE_CAP
USERS = ("lab", "vscode", "alone", "shiny", "port") + JOBS + CAPPED
PREFIX = "labstack-cull"  # its containers' names
PORT = 8765

SPAWNER_CONFIG = """
# a real hub's 5 minutes, scaled down with the culler's timeout
c.JupyterHub.last_activity_interval = {report}
c.Spawner.environment = {{"JUPYTERHUB_ACTIVITY_INTERVAL": "{report}"}}


def _labstack_per_user(spawner):
    if spawner.user.name in ("alone", "alonejob"):
        spawner.cmd = ["labstack-vscode-standalone"]
        spawner.default_url = "/"
    if spawner.user.name in {capped}:  # the others have the default cap, 8h
        spawner.environment = dict(spawner.environment, LABSTACK_KEEPALIVE_MAX="{cap}s")


c.Spawner.pre_spawn_hook = _labstack_per_user
# the culler, as Zero-to-JupyterHub runs it; started by the test once every tab is open
c.JupyterHub.services.append({{"name": "idle-culler", "api_token": "{culler_token}"}})
c.JupyterHub.load_roles.append({{"name": "idle-culler", "services": ["idle-culler"],
                                 "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}})
"""


@contextmanager
def culling_hub(image_ref, engine, workdir):
    try:
        import dockerspawner  # noqa: F401
        import jupyterhub_idle_culler  # noqa: F401
    except ImportError as error:
        require(f"python package {error.name}", "pip install -r requirements-dev.txt")
    culler_token = secrets.token_hex(16)
    config = docker_spawner_config(PREFIX, image_ref) + SPAWNER_CONFIG.format(
        report=REPORT_EVERY, cap=KEEPALIVE_CAP, capped=repr(CAPPED), culler_token=culler_token)
    # LABSTACK_CULLING_UPSTREAM=1, with an image from before labstack_proxy's activity module: how a hub
    # culled before (the closing note's "before"; the tests then fail, as they should)
    config += "" if os.environ.get("LABSTACK_CULLING_UPSTREAM") == "1" else PERSON_ACTIVITY + CULL_NOTICE
    try:
        with running_hub(engine, workdir, config, users=USERS) as hub:
            hub["culler_token"] = culler_token
            for name in USERS:
                assert api(hub, "POST", f"/users/{name}").status_code in (201, 409)
            spawn_all(hub, [(name, "", None) for name in USERS], timeout=360)
            yield hub
    finally:
        remove_stray_containers(session_filter(), prefix=PREFIX)  # its own: other modules' run meanwhile


def running(hub, name) -> bool:
    server = api(hub, "GET", f"/users/{name}").json()["servers"].get("")
    return bool(server) and server.get("pending") != "stop"


class Person:
    """One user's tab and what a person does in it; `act()` does it once."""

    def __init__(self, name, page):
        self.name, self.page, self.actions, self.last = name, page, 0, time.time()

    def act(self):
        self.do()
        self.actions += 1
        self.last = time.time()

    def do(self):
        pass


class LabPerson(Person):
    def open(self, hub):
        self.page.goto(f"{server_url(hub, self.name)}/lab?reset", wait_until="commit", timeout=120_000)
        self.page.wait_for_selector(".jp-Launcher", timeout=120_000)
        self.page.click(".jp-LauncherCard[data-category='Notebook'] >> nth=0")
        self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)

    def act(self):
        if self.actions:
            return  # the kernel works; nobody touches the tab
        from browser import run_first_cell

        # busy through the whole person phase, printing nothing after it starts: only the kernel's state shows it
        run_first_cell(self.page, f"import time; print('started'); time.sleep({PERSON_PHASE})", "started")
        self.actions, self.last = 1, time.time() + PERSON_PHASE


# the workbench opening a file of the home: VS Code's own ?payload= (what its "Open File" link does)
OPEN_FILE = "?folder=/home/jovyan&payload=%5B%5B%22openFile%22%2C%22vscode-remote%3A%2F%2F%2Fhome%2Fjovyan%2Fperson.py%22%5D%5D"


class VSCodePerson(Person):
    def open(self, hub, path="/vscode/"):
        from browser import Visit, type_in_vscode_terminal

        self.container.exec_run(["sh", "-c", "echo 'x = 1' > /home/jovyan/person.py"], user="1000")
        self.page.goto(f"{server_url(hub, self.name)}{path}{OPEN_FILE}", wait_until="commit", timeout=120_000)
        self.page.wait_for_selector(".monaco-editor .view-lines", timeout=120_000)
        if self.terminal:
            type_in_vscode_terminal(Visit(self.page, server_url(hub, self.name)), "echo person")
            self.page.keyboard.press("Enter")
        self.last = time.time()

    def do(self):
        if self.terminal and self.actions % 2:
            self.page.locator(".terminal-wrapper .xterm-screen").first.click()
            self.page.keyboard.type("echo again")
            self.page.keyboard.press("Enter")
        else:
            self.page.locator(".monaco-editor .view-lines").first.click()
            self.page.keyboard.type("y")


class JobPerson(Person):
    """Types a loop into a terminal as its first act, then touches nothing: `where` is JupyterLab's
    terminal ("lab"), VS Code's ("/vscode/") or VS Code alone's ("/"). A job that ends prints the time
    every second for JOB_SECONDS, written as a person would; one under the cap never ends."""

    def __init__(self, name, page, where, ends=True, close_tab=False):
        super().__init__(name, page)
        self.where, self.ends, self.close_tab, self.began = where, ends, close_tab, None

    def open(self, hub):
        from browser import run_from_vscode_palette

        if self.where == "lab":
            self.page.goto(f"{server_url(hub, self.name)}/lab?reset", wait_until="commit", timeout=120_000)
            self.page.click(".jp-LauncherCard:has-text('Terminal') >> nth=0", timeout=120_000)
            self.terminal = ".jp-Terminal .xterm-screen"
        else:
            self.page.goto(f"{server_url(hub, self.name)}{self.where}?folder=/home/jovyan", wait_until="commit",
                           timeout=120_000)
            self.page.wait_for_selector(".monaco-workbench", timeout=120_000)
            run_from_vscode_palette(self.page, "Terminal: Create New Terminal", ".terminal-wrapper .xterm:visible")
            self.terminal = ".terminal-wrapper .xterm-screen:visible"
        self.page.wait_for_selector(self.terminal, timeout=120_000)

    def act(self):
        if self.began is not None:
            return  # the job runs; nobody touches the tab
        if self.ends:
            command = f"end=$(( $(date +%s) + {JOB_SECONDS} )); while [ $(date +%s) -lt $end ]; do date; sleep 1; done"
        else:
            command = "while true; do date; sleep 1; done"
        self.page.locator(self.terminal).first.click()
        self.page.keyboard.type(command)
        self.began = time.time()
        self.page.keyboard.press("Enter")
        for _ in range(30):  # the loop's `sleep 1`, seen from inside the container
            if self.container.exec_run(["pgrep", "-x", "sleep"], user="1000").exit_code == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{self.name}: the loop typed into the terminal ({self.where}) never ran")
        self.actions = 1
        self.last = self.began + (JOB_SECONDS if self.ends else KEEPALIVE_CAP)
        if self.close_tab:
            self.page.close()


# JupyterLab saves a changed notebook every 120 s (docmanager's autosaveInterval), a change made by a
# cell's output or its end included; saving counts. So a notebook's server may last one such save past
# its cell: the test takes the latest save as the notebook's last event, read from the file's time.
NOTEBOOKS = ("lab", "capkernel")
AUTOSAVE_EVERY = 120


def last_saved(container) -> float:
    """The latest modification time of a notebook in the home, read beside Jupyter (docker exec)."""
    try:
        output = container.exec_run(["sh", "-c", "stat -c %Y /home/jovyan/*.ipynb 2>/dev/null"], user="1000").output
    except docker.errors.APIError:  # stopped meanwhile: its last save was seen before
        return 0.0
    return max((float(field) + 1 for field in output.split()), default=0.0)  # + 1: whole seconds


class KernelPerson(LabPerson):
    """A cell that never ends, silent after its first line: the busy kernel under the cap."""

    def act(self):
        if self.actions:
            return
        from browser import run_first_cell

        run_first_cell(self.page, "import time; print('started'); exec('while True: time.sleep(1)')", "started")
        self.actions, self.last = 1, time.time() + KEEPALIVE_CAP


class ShinyPerson(Person):
    def open(self, hub):
        self.page.goto(f"{server_url(hub, self.name)}/shiny/", wait_until="commit", timeout=120_000)
        self.page.wait_for_selector(".irs-handle.single", timeout=120_000)
        # connected: the summary is R's answer over Shiny's socket. The slider alone can be drawn by a
        # page whose Shiny scripts chromium aborted (a CI run: moved for minutes, no input reached R,
        # and the server was culled as unused); waiting here lets the network rule load it again.
        self.page.wait_for_selector("#summary:has-text('labstack-shiny-ok')", timeout=120_000)
        self.last = time.time()

    def do(self):
        handle = self.page.locator(".irs-handle.single")
        box = handle.bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + (40 if self.actions % 2 else -40), box["y"] + box["height"] / 2, steps=4)
        self.page.mouse.up()


class PortPerson(Person):
    def open(self, hub):
        self.page.goto(f"{server_url(hub, self.name)}/proxy/{PORT}/chat", wait_until="commit", timeout=120_000)
        self.page.wait_for_selector("#said:has-text('connected')", timeout=60_000)
        self.last = time.time()

    def do(self):
        self.page.click("#send")
        expected = f"person {self.actions + 1}"
        self.page.wait_for_function(f"['{expected}', 'closed'].some(t => document.getElementById('said').textContent.startsWith(t))",
                                    timeout=30_000)
        said = self.page.locator("#said").text_content()
        assert said == expected, f"the app's websocket answered {said!r}, not {expected!r}"


def begin_beside(request):
    """The whole scenario mostly waits (three timeouts of people acting, then one of idle tabs), so it
    runs beside the other modules (beside.py), with a browser of its own in its thread."""
    image_ref = request.getfixturevalue("image")("rstudio+code-server")
    engine = request.getfixturevalue("engine")
    workdir = request.getfixturevalue("tmp_path_factory").mktemp("hub")

    def in_a_browser_of_its_own():
        from playwright.sync_api import sync_playwright

        from browser import launch_browser

        with sync_playwright() as playwright:
            chromium = launch_browser(playwright)
            try:
                return scenario(image_ref, engine, workdir, chromium)
            finally:
                chromium.close()

    return Beside("the culling scenario", in_a_browser_of_its_own)


@pytest.fixture(scope="module")
def culling(image, engine, tmp_path_factory, request):
    """Everyone's person phase, then their idle tabs: {user: seconds from the last person event to the
    cull, or None if never culled}, and what labstack-keepalive said."""
    work = begun(__name__)
    if work is not None:
        outcome = work.result(timeout=1200)
    else:
        outcome = scenario(image("rstudio+code-server"), engine, tmp_path_factory.mktemp("hub"),
                           request.getfixturevalue("browser"))
    print(f"\nlabstack: culled after the last person event (timeout {TIMEOUT} s, checked every {CULL_EVERY} s): "
          f"{outcome['seconds']}; of which the culler was stopping others: {outcome['busy']}")
    return outcome


def scenario(image_ref, engine, workdir, browser):
    with culling_hub(image_ref, engine, workdir) as hub:
        return people_then_idle_tabs(hub, engine, browser)


def people_then_idle_tabs(hub, engine, browser):
    containers = {name: engine.containers.get(f"{PREFIX}-{name}") for name in USERS}
    app = copy_into(containers["port"], REPO_ROOT / "tests" / "support" / "proxy_app.py")
    containers["port"].exec_run(["python3", app, str(PORT)], user="1000", detach=True)

    def tab(name):
        return logged_in(browser, hub, name)[1]

    people = [LabPerson("lab", tab("lab")), VSCodePerson("vscode", tab("vscode")), VSCodePerson("alone", tab("alone")),
              ShinyPerson("shiny", tab("shiny")), PortPerson("port", tab("port")),
              JobPerson("labjob", tab("labjob"), "lab"), JobPerson("codejob", tab("codejob"), "/vscode/"),
              JobPerson("alonejob", tab("alonejob"), "/"), JobPerson("nojob", tab("nojob"), "lab", close_tab=True),
              JobPerson("capjob", tab("capjob"), "lab", ends=False), KernelPerson("capkernel", tab("capkernel"))]
    for person in people:
        person.container = containers[person.name]
        if isinstance(person, VSCodePerson):
            person.terminal = person.name == "vscode"
            person.open(hub, "/" if person.name == "alone" else "/vscode/")
        else:
            person.open(hub)
    # everyone acts once, keep asks for its keep-alive, and the culler starts once the hub has heard of it
    for person in people:
        person.act()
    said = containers["keep"].exec_run(["labstack-keepalive", "2h"], user="1000").output.decode()
    keep_from = time.time()
    time.sleep(REPORT_EVERY + 2)
    workdir = hub["log"].parent / "idle-culler"
    workdir.mkdir(exist_ok=True)
    culler = Service([sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={TIMEOUT}", f"--cull-every={CULL_EVERY}",
                      f"--url={hub['url']}/hub/api"], workdir,
                     env={**os.environ, "JUPYTERHUB_API_TOKEN": hub["culler_token"]})
    try:
        outcome = observe(hub, people, said, keep_from)
        outcome["told"] = told_on_the_next_visit(hub, [person for person in people if person.name in TOLD])
        return outcome
    finally:
        culler.stop()
        for person in people:
            person.page.context.close()


def observe(hub, people, said, keep_from):
    # the person phase: each acts every PERSON_EVERY seconds; nobody may be culled meanwhile (keep's
    # keep-alive ends within it: it must outlive the time an idle server lasts, then go)
    ends = time.time() + PERSON_PHASE
    culled_at: dict[str, float] = {}
    kept_past_timeout = None

    saved: dict[str, float] = {}

    def look():
        for name in USERS:
            if name not in culled_at and not running(hub, name):
                culled_at[name] = time.time()
        for person in people:
            if person.name in NOTEBOOKS and person.name not in culled_at:
                saved[person.name] = max(saved.get(person.name, 0.0), last_saved(person.container))

    for _ in range(PERSON_PHASE + 1):
        if time.time() >= ends:
            break
        for person in people:
            if time.time() - person.last >= PERSON_EVERY:
                person.act()
        look()
        if kept_past_timeout is None and time.time() > keep_from + IDLE_LASTS + 2:
            kept_past_timeout = running(hub, "keep")
        time.sleep(1)
    # the jobs end (and the caps run out) inside the phase: their own test says how long each was kept
    culled_early = sorted(name for name in culled_at if name not in CAPPED + JOBS)
    last = {person.name: person.last for person in people}
    began = {person.name: person.began for person in people if isinstance(person, JobPerson)}
    began["capkernel"] = last["capkernel"] - KEEPALIVE_CAP
    last["keep"] = keep_from + KEEPALIVE_CAP

    # the idle phase: tabs open, untouched
    deadline = max(last.values()) + IDLE_LASTS + AUTOSAVE_EVERY + 30
    for _ in range(int(deadline - time.time()) + 2):
        look()
        if len(culled_at) == len(USERS) or time.time() > deadline:
            break
        time.sleep(1)
    # JupyterLab saves a notebook a cell changed on its own, and saving counts (docs/culling.md)
    for name, when in saved.items():
        last[name] = max(last[name], when)
    # the hub logs a stop when it ends: the last one may still be going as its server is seen culled
    busy = {}
    for _ in range(30):
        log = hub["log"].read_text()
        busy = culler_busy_seconds(log, {name: last[name] + TIMEOUT for name in culled_at})
        if set(culled_at) <= set(busy):
            break
        time.sleep(1)
    # a cull is when the culler's stop reached the hub, from the hub's log; what this test saw (a look
    # asks the hub of twelve users and reads three notebooks, seconds apart under load) only when the
    # log has no such stop
    stopped = {}
    for start, _, user in culler_stops(log):
        stopped.setdefault(user, start)
    culled_at.update({name: stopped[name] for name in culled_at if name in stopped})
    seconds = {name: (round(culled_at[name] - last[name], 1) if name in culled_at else None) for name in USERS}
    report = REPO_ROOT / "reports" / ("culling-upstream.json" if os.environ.get("LABSTACK_CULLING_UPSTREAM") == "1" else "culling.json")
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps({"timeout": TIMEOUT, "cull_every": CULL_EVERY, "person_phase": PERSON_PHASE,
                                  "seconds_from_last_person_event_to_cull": seconds,
                                  "seconds_the_culler_was_stopping_others_meanwhile": busy,
                                  "job_seconds": JOB_SECONDS, "keepalive_cap": KEEPALIVE_CAP,
                                  "seconds_from_job_start_to_cull": {name: (round(culled_at[name] - when, 1) if name in culled_at else None)
                                                                     for name, when in began.items()}}, indent=2) + "\n")
    culler_log = (hub["log"].parent / "idle-culler" / "service.log")
    decisions = [line for line in (culler_log.read_text(errors="replace").splitlines() if culler_log.exists() else [])
                 if "Culling server" in line]
    return {"seconds": seconds, "busy": busy, "culled_early": culled_early, "said": said, "decisions": decisions,
            "kept_past_timeout": kept_past_timeout,
            "kept_from_start": {name: (round(culled_at[name] - when, 1) if name in culled_at else None)
                                for name, when in began.items()}}


TOLD = {"lab": "/lab", "codejob": "/vscode/", "alonejob": "/"}  # culled people coming back, and where to


def told_on_the_next_visit(hub, people) -> dict:
    """What each culled person's tab shows when loaded again (JupyterLab, VS Code, VS Code alone): the
    hub's page for a server not running, and what it says of the cull."""
    told = {}
    for person in people:
        person.page.goto(f"{server_url(hub, person.name)}{TOLD[person.name]}", wait_until="domcontentloaded",
                         timeout=60_000)
        notice = person.page.locator("#labstack-culled")
        told[person.name] = " ".join(notice.inner_text().split()) if notice.count() else person.page.inner_text("body")[:300]
    return told


# The hub's log line of each of the culler's stops: its end, the user, how long it took
CULLER_STOP = re.compile(r"^\[I (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) JupyterHub [^\]]*\] 204 DELETE "
                         r"/hub/api/users/([^/]+)/server \(idle-culler@[^)]*\) ([\d.]+)ms", re.M)


def culler_stops(log: str) -> list[tuple[float, float, str]]:
    """(start, end, user) of each of the culler's stops, in the hub's clock (local time, as this test's)."""
    from datetime import datetime

    stops = []
    for when, user, milliseconds in CULLER_STOP.findall(log):
        end = datetime.strptime(when, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        stops.append((end - float(milliseconds) / 1000, end, user))
    return sorted(stops)


def culler_busy_seconds(log: str, idle_from: dict[str, float]) -> dict:
    """{user: seconds the culler spent stopping other users between the moment this one went idle and
    the start of its own stop}, for each user whose stop the hub has logged. The culler stops users one
    after another and starts no check while a pass is still stopping: each such second delays this cull."""
    stops = culler_stops(log)
    busy = {}
    for start, _, user in stops:
        if user in idle_from and user not in busy:
            busy[user] = round(sum(max(0.0, min(other_end, start) - max(other_start, idle_from[user]))
                                   for other_start, other_end, other in stops if other != user), 1)
    return busy


def test_nobody_is_culled_while_a_person_uses_the_app(culling):
    assert culling["culled_early"] == [], culling


@pytest.mark.parametrize("user", USERS)
def test_an_untouched_tab_is_culled_within_timeout_and_two_checks(culling, user):
    seconds = culling["seconds"][user]
    assert seconds is not None, f"{user}'s server was never culled with its tab open and untouched: {culling}"
    assert seconds - culling["busy"].get(user, 0) <= IDLE_LASTS, (
        culling["seconds"], culling["busy"], [line for line in culling["decisions"] if f" {user} " in line])


def test_a_keepalive_outlives_the_timeout_and_is_cut_to_the_cap(culling):
    assert culling["kept_past_timeout"], culling
    assert "LABSTACK_KEEPALIVE_MAX caps it at 1m" in culling["said"] and "(asked 2h;" in culling["said"], culling["said"]


@pytest.mark.parametrize("user", JOBS + ("capjob", "capkernel"))
def test_work_left_running_keeps_its_server_past_the_timeout_until_it_ends_or_its_cap(culling, user):
    kept = culling["kept_from_start"][user]
    # a job: for its whole run; under the cap: past an idle server's time (the cap ends it, within
    # the 8 s to which the terminal's clock is kept)
    at_least = JOB_SECONDS if user in JOBS else IDLE_LASTS
    assert kept is not None and kept >= at_least, (user, culling["kept_from_start"])


@pytest.mark.parametrize("user", TOLD)
def test_a_culled_person_is_told_why_on_the_next_visit(culling, user):
    said = culling["told"][user]
    assert re.search(r"was stopped at \d{4}-\d\d-\d\d \d\d:\d\d UTC because nobody had used it since", said), said
