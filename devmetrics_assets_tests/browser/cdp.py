"""A small Chrome DevTools Protocol client: headless Chromium driven over one websocket per page.

No browser-automation framework, only `websocket-client`:

    with Browser.launch(tmp_dir) as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:3000/assets")
        page.wait_for_selector("table")
        page.evaluate("document.title")
        page.screenshot(path)
        assert not page.console_errors

Chromium is started as `chromium --headless=new --no-sandbox --remote-debugging-port=0
--user-data-dir=DIR`; the port it picked is read from `DIR/DevToolsActivePort`. Commands are
synchronous (send, then read until the answer with the same id arrives); events read on the way are
kept: console errors (`Runtime.consoleAPICalled` of type error/assert, `Runtime.exceptionThrown`,
`Log.entryAdded` at level error) and network requests (`Network.requestWillBeSent`).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("headless Chromium is needed for the browser tests: `apt-get install chromium` "
                "(Debian; CI's .ci/run installs it), or set CHROMIUM=/path/to/chromium")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class WaitTimeout(AssertionError):
    """A wait-for condition did not hold within its timeout (an AssertionError: a test failure)."""


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM if set, else the first of the usual names on the PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class ConsoleEntry:
    """One console error, uncaught exception or browser log error seen by a page."""

    source: str  # "console", "exception" or "log"
    text: str
    url: str = ""

    def __str__(self) -> str:
        return f"[{self.source}] {self.text}" + (f" ({self.url})" if self.url else "")


class Connection:
    """One DevTools websocket: synchronous commands, events kept and handed to a listener."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True,
                                              enable_multithread=False)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> dict:
        """Send a command and return its `result`; events that arrive meanwhile go to the listeners."""
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"{method}: no answer within {timeout or self.timeout:.0f} s")
            self.ws.settimeout(remaining)
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            message = json.loads(raw)
            if message.get("id") == message_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._dispatch(message["method"], message.get("params", {}))

    def drain(self, seconds: float = 0.2) -> None:
        """Read the events that arrive within `seconds` (nothing is sent)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self.ws.settimeout(remaining)
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                return
            if "method" in message:
                self._dispatch(message["method"], message.get("params", {}))

    def _dispatch(self, method: str, params: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(method, params)

    def close(self) -> None:
        try:
            self.ws.close()
        except (OSError, websocket.WebSocketException):
            pass


@dataclass
class Page:
    """A page target: navigate, evaluate, wait, screenshot; console errors and requests are recorded."""

    connection: Connection
    target_id: str
    console_errors: list[ConsoleEntry] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _loaded: bool = False

    def __post_init__(self) -> None:
        self.connection.listeners.append(self._on_event)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.connection.send(f"{domain}.enable")

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console_errors.append(ConsoleEntry("console", text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            text = exception.get("description") or details.get("text", "exception")
            self.console_errors.append(ConsoleEntry("exception", text, details.get("url", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(ConsoleEntry("log", entry.get("text", ""), entry.get("url", "")))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.loadEventFired":
            self._loaded = True

    def set_viewport(self, width: int, height: int) -> None:
        self.connection.send("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        """Go to `url` and wait for its load event."""
        self._loaded = False
        result = self.connection.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        deadline = time.monotonic() + timeout
        while not self._loaded:
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{url}: no load event within {timeout:.0f} s")
            self.connection.drain(0.2)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (promises awaited), returned by value."""
        result = self.connection.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "timeout": int(timeout * 1000)}, timeout=timeout + 5)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"evaluating {expression[:80]!r}: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60.0, interval: float = 0.25,
                 what: str | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = self.evaluate(expression)
            except CDPError as error:  # e.g. the page is between documents
                last = str(error)
            else:
                if last:
                    return last
            if time.monotonic() > deadline:
                raise WaitTimeout(f"waited {timeout:.0f} s for {what or expression!r}; last value {last!r}")
            self.connection.drain(interval)

    def wait_for_selector(self, selector: str, timeout: float = 60.0, count: int = 1) -> int:
        """Wait until at least `count` elements match the CSS selector; return how many match."""
        return self.wait_for(f"document.querySelectorAll({json.dumps(selector)}).length >= {count} "
                             f"&& document.querySelectorAll({json.dumps(selector)}).length",
                             timeout=timeout, what=f"{count} x {selector}")

    def wait_for_text(self, text: str, timeout: float = 60.0) -> None:
        """Wait until the page's visible text contains `text`."""
        self.wait_for(f"document.body && document.body.innerText.includes({json.dumps(text)})",
                      timeout=timeout, what=f"text {text!r}")

    def click(self, element_expression: str, timeout: float = 30.0) -> None:
        """A real mouse click (pressed + released) at the centre of the element the expression finds.

        `element_expression` is JavaScript evaluating to an Element (or null while it is not there yet).
        """
        rect = self.wait_for(
            f"(() => {{ const el = ({element_expression}); if (!el) return null;"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return r.width > 0 && r.height > 0 ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()",
            timeout=timeout, what=f"a visible element for {element_expression}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            pressing = kind != "mouseMoved"
            self.connection.send("Input.dispatchMouseEvent", {
                "type": kind, "x": rect[0], "y": rect[1], "button": "left" if pressing else "none",
                "clickCount": 1 if pressing else 0})

    def click_text(self, text: str, selector: str = "button, a, [role=button], [role=tab], [title]",
                   timeout: float = 30.0) -> None:
        """Click the first element matching `selector` whose visible text (or title) is exactly `text`."""
        self.click(f"[...document.querySelectorAll({json.dumps(selector)})].find(e => "
                   f"(e.innerText || '').trim() === {json.dumps(text)} || e.title === {json.dumps(text)})",
                   timeout=timeout)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """Save a PNG of the viewport (or the whole page) to `path`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 8000), "scale": 1}
        data = self.connection.send("Page.captureScreenshot", params, timeout=60)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def settle(self, seconds: float = 0.5) -> None:
        """Let pending events (late console errors, requests) arrive and be recorded."""
        self.connection.drain(seconds)

    def close(self) -> None:
        self.connection.close()


class Browser:
    """A headless Chromium process with its own profile; stopped (its whole process group) on close."""

    def __init__(self, process: subprocess.Popen, port: int, browser_ws: str, profile: Path,
                 log_path: Path) -> None:
        self.process = process
        self.port = port
        self.profile = profile
        self.log_path = log_path
        self.connection = Connection(f"ws://127.0.0.1:{port}{browser_ws}")
        self.pages: list[Page] = []

    @classmethod
    def launch(cls, work_dir: Path, executable: str | None = None, timeout: float = 60.0,
               window: tuple[int, int] = (1440, 1000)) -> Browser:
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError(INSTALL_HINT)
        profile = work_dir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a stale one from an earlier browser names a dead port
        log_path = work_dir / "chromium.log"
        command = [executable, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
                   f"--user-data-dir={profile}", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                   "--disable-background-networking", "--disable-sync", "--metrics-recording-only",
                   "--disable-component-update", f"--window-size={window[0]},{window[1]}", "about:blank"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            lines = port_file.read_text().splitlines() if port_file.exists() else []
            if len(lines) >= 2 and lines[0].strip().isdigit():
                break
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process_group(process)
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chromium did not start ({executable}, exit {process.poll()}):\n{tail}")
            time.sleep(0.1)
        try:
            return cls(process, int(lines[0]), lines[1].strip(), profile, log_path)
        except Exception:
            stop_process_group(process)
            raise

    def new_page(self, width: int = 1440, height: int = 1000) -> Page:
        """Open a new page target and connect to it."""
        target_id = self.connection.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        page = Page(Connection(f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}"), target_id)
        page.set_viewport(width, height)
        self.pages.append(page)
        return page

    def close(self) -> None:
        for page in self.pages:
            page.close()
        try:
            self.connection.send("Browser.close", timeout=5)
        except (CDPError, OSError, websocket.WebSocketException):
            pass
        self.connection.close()
        stop_process_group(self.process)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process's own group (it was started with start_new_session), SIGKILL what remains."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = None
    if group is not None and group == process.pid:  # never signal a group we do not lead
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(group):
                try:
                    process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            if not _group_alive(group):
                break
    elif process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _group_alive(group: int) -> bool:
    """Is any process of the group still there (zombies of our own child aside)?"""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds while our direct child is a zombie: look for live members.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == group and fields[0] != "Z":
            return True
    return False
