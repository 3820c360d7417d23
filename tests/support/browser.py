"""A real browser for the image tests: Playwright (from PyPI) driving Debian's chromium, headless.

Every page records each request it makes, so a test can say that a page asked nothing of any host
but the one serving it and got no 404; each test saves a screenshot under reports/screenshots/.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from labstack import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"
# Without the background-networking flags chromium calls Google's hosts at every start.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def launch_browser(playwright):
    if not os.access(CHROMIUM, os.X_OK):
        message = "Debian's chromium is not installed (apt-get install chromium; scripts/install-deps test does)"
        if os.environ.get("LABSTACK_REQUIRE_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@dataclass
class Visit:
    """One browser page, with every request and every failed response it saw."""
    page: object
    origin: str
    requests: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to any host but the one serving the page (data: and blob: URLs are local)."""
        own = urlsplit(self.origin).netloc
        return [url for url in self.requests
                if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own]

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def visit(browser, origin: str) -> Visit:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    result = Visit(page, origin)
    page.on("request", lambda request: result.requests.append(request.url))
    page.on("response", lambda response: response.status == 404 and result.not_found.append(response.url))
    page.set_default_timeout(60_000)
    return result


NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"


def load_again_when_the_network_changed(page) -> None:
    """The one rule for a load chromium aborted, put on every page the tests open (conftest's browser).

    Chromium runs on the engine's own host here. When the host's network changes under it (the lane
    beside, or a hub, starts and stops containers and networks), chromium aborts what a page is loading
    with ERR_NETWORK_CHANGED, even from loopback. A CI run lost JupyterLab's theme so (its "Error
    Loading Theme" dialog covered the launcher); stress runs lost Shiny's scripts so (the page never
    connected, and its summary never showed). A person's browser is not on the node, and a person
    would load the page again. So on each page: a navigation during which chromium aborted a request
    so is done again, once; a wait for an element that times out after such an abort since the page's
    last navigation reloads the page and waits once more; a helper that polls on its own asks
    reload_if_the_network_changed. Each time, it is said.

    Reproduced outside the suite: a page with 30 fetches queued on one loopback origin (chromium opens
    6 connections per host) lost 24 of them to `docker network create` and `rm` run meanwhile; a veth
    coming up lost none. Requests waiting for a connection are the ones aborted."""
    if hasattr(page, "labstack_aborted"):
        return
    page.labstack_aborted, page.labstack_navigated_at = [], 0
    page.on("requestfailed", lambda request: NETWORK_CHANGED in (request.failure or "")
            and page.labstack_aborted.append(request.url))
    # a new document in the page (not framenavigated: JupyterLab's own history.replaceState fires it)
    page.on("request", lambda request: request.is_navigation_request() and request.frame == page.main_frame
            and setattr(page, "labstack_navigated_at", len(page.labstack_aborted)))
    goto, wait_for_selector = page.goto, page.wait_for_selector

    def goto_once_more(url, **kwargs):
        from playwright.sync_api import Error as PlaywrightError

        before = len(page.labstack_aborted)
        try:
            response = goto(url, **kwargs)
        except PlaywrightError as error:  # the document itself was aborted (a CI run lost two so)
            if NETWORK_CHANGED not in str(error):
                raise
            print(f"labstack: chromium aborted {url} itself ({NETWORK_CHANGED}); loading it again")
            return goto(url, **kwargs)
        aborted = page.labstack_aborted[before:]
        if aborted and kwargs.get("wait_until", "load") in ("load", "networkidle"):
            print(f"labstack: chromium aborted {aborted} ({NETWORK_CHANGED}); loading {url} again")
            response = goto(url, **kwargs)
        return response

    def wait_once_more(selector, **kwargs):
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return wait_for_selector(selector, **kwargs)
        except PlaywrightTimeout:
            if kwargs.get("state") in ("hidden", "detached") or not reload_if_the_network_changed(page, selector):
                raise
            return wait_for_selector(selector, **kwargs)

    locator = page.locator

    def locator_clicked_once_more(selector, **options):
        """page.locator(...).click: a click that timed out after such an abort loads the page again and
        clicks once more (a CI run lost servers-info so, and with it the launcher's VS Code card)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        found = locator(selector, **options)
        click = found.click

        def click_once_more(**kwargs):
            try:
                return click(**kwargs)
            except PlaywrightTimeout:
                if not reload_if_the_network_changed(page, selector):
                    raise
                return locator(selector, **options).click(**kwargs)

        found.click = click_once_more
        return found

    page.goto, page.wait_for_selector, page.locator = goto_once_more, wait_once_more, locator_clicked_once_more


def reload_if_the_network_changed(page, waited_for: str) -> bool:
    """Reload the page, once per document, if chromium aborted any of its requests for a network change
    since it was loaded (see load_again_when_the_network_changed); say so. False: nothing to do."""
    aborted = getattr(page, "labstack_aborted", [])[getattr(page, "labstack_navigated_at", 0):]
    if not aborted:
        return False
    print(f"labstack: {waited_for} never came; chromium had aborted {aborted} ({NETWORK_CHANGED}); "
          f"loading {page.url} again")
    page.reload()
    return True


def login(visit: Visit, jupyter) -> None:
    """Log in as a person does: the token in the URL once, the cookie after that. `reset`: a fresh
    workspace (the launcher), not the one an earlier test left with a notebook open.

    JupyterLab loads its theme's CSS after the page's load; when chromium aborted it, the theme is never
    applied and an "Error Loading Theme" dialog covers the launcher. Waiting for the theme first lets
    load_again_when_the_network_changed load JupyterLab again then; the launcher comes after it."""
    visit.page.goto(f"{jupyter.base_url}/lab?reset&token={jupyter.token}")
    visit.page.wait_for_selector("body[data-jp-theme-name]", state="attached", timeout=120_000)
    visit.page.wait_for_selector(".jp-Launcher", timeout=120_000)


def answer_jupyterlab_dialog(page) -> str | None:
    """Close a JupyterLab dialog that covers the page with its default button, as a person would, and
    print what it said (returned too). Under two cores' full load one covered a new notebook for a
    minute, which a click into the cell could not get past."""
    dialog = page.locator(".jp-Dialog").first
    if not dialog.is_visible():  # False too when there is none
        return None
    said = " ".join(dialog.inner_text().split())[:300]
    print(f"labstack: JupyterLab showed a dialog, answered with its default button: {said!r}")
    dialog.locator(".jp-Dialog-footer button").last.click()  # JupyterLab puts its default last
    return said


def wait_for_idle_kernel(page, timeout: float = 120) -> None:
    """Wait until the new notebook's kernel is idle, answering any dialog meanwhile (one that asks for a
    kernel, or says the kernel restarted, holds the kernel back until it is answered). In a cold CI run
    in two lanes an R kernel once showed no "idle" in 120 s; what the page showed was not kept, so a
    failure now says which states and dialogs were seen, and keeps a screenshot."""
    status = ("(() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
              " return s ? s.getAttribute('data-status') : 'no notebook' })()")
    seen: list[str] = []
    dialogs: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        said = answer_jupyterlab_dialog(page)
        if said:
            dialogs.append(said)
        now = page.evaluate(status)
        if not seen or seen[-1] != now:
            seen.append(now)
        if now == "idle" and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").is_visible():
            return
        # a notebook opened while chromium aborted its settings (a CI run lost its toolbar so): load again
        if time.monotonic() > deadline - timeout / 2 and reload_if_the_network_changed(page, "an idle kernel"):
            seen.append("reloaded")
        time.sleep(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"no-idle-kernel-{int(time.time())}.png"
    page.screenshot(path=str(shot))
    raise AssertionError(f"the notebook's kernel was not idle in {timeout:.0f} s: states seen {seen}, "
                         f"dialogs answered {dialogs}; the page: {shot}")


def click_first_cell(page, tries: int = 4) -> None:
    """Click into the notebook's first cell, past a dialog that opens meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        answer_jupyterlab_dialog(page)
        try:
            page.locator(".jp-Cell .cm-content").first.click(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def type_into_first_cell(page, code: str, tries: int = 4) -> None:
    """Type code into the first cell once its editor has the keyboard, and check that it is there.
    Under a loaded CI run a click left the notebook in command mode, the keys went to JupyterLab's
    shortcuts and the cell stayed empty; a person sees that and types again."""
    cell = page.locator(".jp-Cell .cm-content").first
    for attempt in range(tries):
        click_first_cell(page)
        try:
            page.wait_for_selector(".jp-Notebook.jp-mod-editMode", timeout=10_000)
        except Exception:  # playwright's TimeoutError: the click did not start editing
            print(f"labstack: the first cell did not take the keyboard (try {attempt + 1}); clicking again")
            continue
        page.keyboard.type(code)
        if cell.inner_text().strip():  # what the editor made of it (closing brackets) is run and checked after
            return
        print(f"labstack: the keys of {code!r} did not reach the first cell (try {attempt + 1}); typing again")
    raise AssertionError(f"could not type {code!r} into the first cell in {tries} tries")


def run_first_cell(page, code: str, expected: str, attempts: int = 6) -> None:
    """Type code into a new notebook's first cell and run it until its output shows `expected`.

    A kernel can show "idle" before it takes requests (IRkernel does, while it starts), and a request
    sent then is dropped: the cell is run again, a bounded number of times, as a person would."""
    wait_for_idle_kernel(page)
    type_into_first_cell(page, code)
    for _ in range(attempts):
        click_first_cell(page)
        page.keyboard.press("Control+Enter")  # run the cell, stay on it
        try:
            page.wait_for_selector(f".jp-OutputArea-output:has-text('{expected}')", timeout=15_000)
            return
        except Exception:  # playwright's TimeoutError: not run yet, or still running
            continue
    raise AssertionError(f"{code!r} never showed {expected!r} in {attempts} runs")


def shiny_example_reacts(page) -> None:
    """The example app on a page at its route: its summary and plot render, and dragging the slider
    (as a person does) changes the summary, which R computes over Shiny's websocket."""
    page.wait_for_selector("#summary:has-text('labstack-shiny-ok: 100 points')", timeout=120_000)
    page.wait_for_selector("#scatter img", timeout=60_000)  # the plot, rendered by R over the websocket
    handle = page.locator(".irs-handle.single")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()
    page.wait_for_function("() => !document.querySelector('#summary').textContent.includes(': 100 points')",
                           timeout=60_000)
    assert "labstack-shiny-ok" in page.locator("#summary").text_content()


def open_vscode(visit: Visit, jupyter, path: str = "/vscode/") -> None:
    """Open VS Code's workbench (logged in already) and let it open what it opens by default."""
    visit.page.goto(f"{jupyter.base_url}{path}")
    visit.page.wait_for_selector(".monaco-workbench .part.editor", timeout=120_000)
    visit.page.wait_for_timeout(3000)


def assert_no_chat(visit: Visit) -> None:
    assert not visit.page.locator(".part.auxiliarybar").is_visible(), "a side panel (chat) is open by default"
    assert visit.page.get_by_text("Sign in to use").count() == 0


def vscode_trust_button(page):
    """A workbench in Restricted Mode (a migrated user's own code-server keeps workspace trust on) asks
    whether the folder is trusted; a person answers that they trust their own."""
    return page.locator(".monaco-dialog-box .monaco-button", has_text="Trust").first


def run_from_vscode_palette(page, command: str, shown: str, attempts: int = 4, timeout_ms: int = 30_000) -> None:
    """Run `command` from VS Code's command palette as a person does, and wait until `shown` (a selector)
    is visible. Under two cores' full load CI saw Enter pressed on an unfiltered list (no editor in
    180 s) and no terminal in 60 s: so the keys are typed once the palette has the focus, the command's
    own row is clicked once it is listed, and a try that showed nothing is closed with
    Escape and made again, bounded. A workbench in Restricted Mode may ask about trust first."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A row's label is the command's, then ", " and its key binding if it has one. The row the palette
    # focuses may be another command whose name contains this one's ("File: Compare New Untitled Text
    # Files"), so the command's own row is clicked.
    row = page.locator(f".quick-input-list .monaco-list-row[aria-label={command!r}], "
                       f".quick-input-list .monaco-list-row[aria-label^={command + ', '!r}]").first
    trust = vscode_trust_button(page)
    target = page.locator(shown).first
    for _ in range(attempts):
        try:
            page.keyboard.press("F1")
            page.wait_for_function("!!(document.activeElement && document.activeElement.closest('.quick-input-widget'))",
                                   timeout=15_000)
            page.keyboard.type(command)
            row.click(timeout=15_000)
            # The trust dialog may come after what the command shows (CI saw a terminal first, then the
            # dialog took the focus from it): give it its 5 s before looking for what is shown.
            try:
                trust.wait_for(state="visible", timeout=5_000)
                trust.click()
            except PlaywrightTimeout:  # no dialog
                pass
            target.wait_for(state="visible", timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"VS Code showed no {shown!r} after {command!r} from its palette, in {attempts} tries")


def type_in_vscode_terminal(visit: Visit, command: str) -> None:
    """Open a new terminal in the workbench through the command palette and type a command into it."""
    page = visit.page
    # The new terminal is the visible one: one an earlier visit opened may be restored beside it, hidden.
    run_from_vscode_palette(page, "Terminal: Create New Terminal", ".terminal-wrapper .xterm:visible")
    # Keys typed before the terminal has the focus go nowhere: click into it as a person would, and
    # again past a trust dialog that came later still.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    trust = vscode_trust_button(page)
    for attempt in range(3):
        if trust.is_visible():
            trust.click()
        page.locator(".terminal-wrapper .xterm-screen:visible").first.click()
        try:
            page.wait_for_function("document.activeElement && document.activeElement.classList.contains('xterm-helper-textarea')",
                                   timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    _wait_until_the_shell_takes_input(page)
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def run_in_vscode_terminal(visit: Visit, command: str, done, failure, name: str) -> None:
    """Type a command into a new VS Code terminal and wait up to 20 s for done(); if it did nothing, type
    it once more into the same terminal, as a person would. Under two cores' full load (a cold CI run
    in two lanes) a command once wrote nothing in 30 s; the screenshot reports/screenshots/NAME.png
    shows the terminal when the second try fails too."""
    from jupyter_container import poll_until

    type_in_vscode_terminal(visit, command)
    try:
        poll_until(done, 20, 1, failure)
        return
    except AssertionError:
        visit.page.locator(".terminal-wrapper .xterm-screen:visible").first.click()
        visit.page.keyboard.type(command)
        visit.page.keyboard.press("Enter")
    try:
        poll_until(done, 20, 1, failure)
    except AssertionError:
        visit.screenshot(name)
        raise


def open_a_port_served_from_vscode(visit: Visit, port: int, text: str):
    """Serve a page with `text` on `port` from a new VS Code terminal, as a person would
    (`python3 -m http.server`), and click the "Open in Browser" notification VS Code shows for it:
    the tab that opens, loaded."""
    page = visit.page
    type_in_vscode_terminal(visit, f"mkdir -p /tmp/served-{port} && cd /tmp/served-{port} && echo {text} > index.html "
                                   f"&& python3 -m http.server {port} --bind 127.0.0.1")
    button = page.locator(".notifications-toasts .monaco-button", has_text="Open in Browser")
    button.first.wait_for(state="visible", timeout=60_000)
    with page.context.expect_page(timeout=30_000) as opened:
        button.first.click()
    tab = opened.value
    tab.wait_for_load_state(timeout=30_000)
    return tab


# VS Code's shell integration marks each finished command in the terminal's gutter.
FINISHED_COMMAND = (".terminal-wrapper .codicon-terminal-decoration-success, "
                    ".terminal-wrapper .codicon-terminal-decoration-error")


def _wait_until_the_shell_takes_input(page) -> None:
    """Run `true` until a command is seen to finish, so the command under test is typed once, whole.

    A new terminal's shell is replaced seconds after it starts when an extension (the built-in git's
    askpass variables) changes the terminal's environment, and keys typed into the first shell are
    lost: in CI a command arrived without its beginning. VS Code relaunches only a terminal nobody has
    typed into, so once a command has finished the shell stays. Only a mark that appears after `true`
    counts: a terminal an earlier visit opened, restored hidden beside the new one, has marks already."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    count = f"document.querySelectorAll({FINISHED_COMMAND!r}).length"
    for _ in range(6):
        before = page.evaluate(count)
        page.keyboard.type("true")
        page.keyboard.press("Enter")
        try:
            page.wait_for_function(f"{count} > {before}", timeout=10_000)
            return
        except PlaywrightTimeout:  # the keys went to a shell that was replaced
            continue
    raise AssertionError("the VS Code terminal finished no command in six tries of 10 s")
