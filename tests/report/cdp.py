"""A tiny Chrome DevTools Protocol client over `--remote-debugging-pipe` (no extra package).

Chromium reads NUL-terminated JSON commands on fd 3 and writes NUL-terminated JSON replies and
events on fd 4. We start it through a one-line Python trampoline that moves the two pipe ends
onto fds 3 and 4 and execs the browser, instead of a `preexec_fn` (unsafe when the test process
has threads, as pytest-xdist workers do).

`load_page(html_path, screenshot)` opens one file with the network cut off and returns what
the page did: console messages, exceptions, every request URL, and a few DOM facts.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--remote-debugging-pipe",
)
# Any host lookup fails: a page that tried to reach the network cannot succeed.
NO_NETWORK = '--host-resolver-rules=MAP * ~NOTFOUND'


def find_chromium() -> str | None:
    """The browser binary: $CHROMIUM, else Debian's `chromium`, else a `chromium-browser`."""
    for name in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered >= 10, so moving them onto fds 3 and 4 cannot clobber
    one end with the other (with low numbers, `dup2(5, 3); dup2(3, 4)` moves the wrong pipe)."""
    read, write = os.pipe()
    high = (fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10),
            fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 10))
    os.close(read)
    os.close(write)
    return high


@dataclass
class PageReport:
    """What one page load did (all URLs the browser tried to fetch, in order)."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    dom: dict[str, Any] = field(default_factory=dict)

    @property
    def console_errors(self) -> list[str]:
        return [text for level, text in self.console if level in ("error", "assert")]


class Browser:
    """One headless Chromium, driven over the debugging pipe; use as a context manager."""

    def __init__(self, binary: str, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="robustlab-chromium-")
        to_child_r, self._to_child = _high_pipe()
        self._from_child, from_child_w = _high_pipe()
        argv = [binary, *FLAGS, NO_NETWORK, f"--user-data-dir={self._profile}", "about:blank"]
        # A tiny Python trampoline puts the pipe ends on fds 3 and 4, then becomes chromium.
        trampoline = (f"import os, sys; os.dup2({to_child_r}, 3); os.dup2({from_child_w}, 4); "
                      "os.execv(sys.argv[1], sys.argv[1:])")
        self._log = Path(self._profile) / "chromium.log"
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", trampoline, *argv], pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # only the process this object started
            self._proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer on the debugging pipe")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe; its log ends:\n"
                                   + self._log.read_text(errors="replace")[-2000:])
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; events seen meanwhile go to `events`."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        try:
            os.write(self._to_child, json.dumps(command).encode() + b"\0")
        except BrokenPipeError as err:
            raise RuntimeError("chromium is gone; its log ends:\n"
                               + self._log.read_text(errors="replace")[-2000:]) from err
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"CDP {method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not any(e.get("method") == event and e.get("sessionId") == session
                      for e in self.events):
            self.events.append(self._read_message(deadline))

    def drain(self, seconds: float) -> None:
        """Collect events for a short while (late console messages, late requests)."""
        self.send("Browser.getVersion")  # a round trip flushes what is already queued
        time.sleep(seconds)
        self.send("Browser.getVersion")


DOM_FACTS = """JSON.stringify({
  title: document.title,
  scripts: Array.from(document.scripts).map(s => s.type),
  svgs: document.querySelectorAll('svg').length,
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  bodyText: document.body.innerText,
  pwned: window.__robustlab_pwned === true,
})"""


def load_page(browser: Browser, html_path: Path, screenshot: Path | None = None, *,
              clip: str | None = None, probe: str | None = None) -> PageReport:
    """Open `html_path` in a fresh tab with the network cut off; report what happened.

    `clip`: a CSS selector; the screenshot then shows that element only. `probe`: a
    JavaScript expression evaluated (by the DevTools protocol, not the page) after the load;
    its JSON value lands in `report.dom["probe"]`."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
    sid = session["sessionId"]
    for domain in ("Page", "Runtime", "Network", "Log"):
        browser.send(f"{domain}.enable", session=sid)
    browser.send("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    }, session=sid)
    browser.send("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sid)
    start = len(browser.events)
    browser.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=sid)
    browser.wait_for("Page.loadEventFired", session=sid)
    browser.drain(0.3)
    report = _collect(browser.events[start:], sid)
    facts = browser.send("Runtime.evaluate", {"expression": DOM_FACTS, "returnByValue": True},
                         session=sid)
    report.dom = json.loads(facts["result"]["value"])
    if probe is not None:
        value = browser.send("Runtime.evaluate", {"expression": f"JSON.stringify({probe})",
                                                  "returnByValue": True}, session=sid)
        report.dom["probe"] = json.loads(value["result"]["value"])
    if screenshot is not None:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            params["clip"] = _box(browser, sid, clip)
        shot = browser.send("Page.captureScreenshot", params, session=sid)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    browser.send("Target.closeTarget", {"targetId": target})
    return report


def _box(browser: Browser, sid: str, selector: str) -> dict[str, float]:
    """The page coordinates of the element `selector` matches, as a screenshot clip."""
    js = (f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
          ".getBoundingClientRect(); return JSON.stringify({x: r.left + scrollX, "
          "y: r.top + scrollY, width: r.width, height: r.height, scale: 1}); })()")
    value = browser.send("Runtime.evaluate", {"expression": js, "returnByValue": True},
                         session=sid)
    box: dict[str, float] = json.loads(value["result"]["value"])
    return box


def _collect(events: list[dict[str, Any]], sid: str) -> PageReport:
    report = PageReport()
    for event in events:
        if event.get("sessionId") != sid:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            report.failed.append(f"{params.get('errorText')} ({params.get('requestId')})")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            report.console.append((params["type"], text))
        elif method == "Runtime.exceptionThrown":
            report.exceptions.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded":
            entry = params["entry"]
            report.console.append((entry["level"], f"{entry.get('url', '')}: {entry['text']}"))
    return report
