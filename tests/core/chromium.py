"""Loads a local HTML page in headless Chromium and reports what a person would see go wrong.

The browser is driven over the DevTools protocol on its ``--remote-debugging-pipe`` transport (the browser reads
commands on fd 3 and writes replies and events on fd 4, each message one JSON text ended by a NUL byte), so no
WebSocket client or other package is needed. Collected: console errors and failed assertions
(``Runtime.consoleAPICalled``), uncaught exceptions (``Runtime.exceptionThrown``), browser log errors such as
"Failed to load resource" (``Log.entryAdded``), failed requests (``Network.loadingFailed``), and, after the load
event, every ``<img>``'s ``complete`` and ``naturalWidth``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install the Debian chromium package: apt-get install chromium"

# Runs in the child before Chromium: puts the two pipe ends on fds 3 and 4 (the transport's fixed numbers), closes
# every other copy, then execs the browser. (A POSIX shell cannot do it: dash only knows single-digit fds.)
_FD_SHIM = """import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
for number, fd in zip((3, 4), ends):
    os.dup2(fd, number)
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""

_PAGE_STATE = """JSON.stringify({
  title: document.title,
  text: document.body ? document.body.innerText : "",
  images: Array.from(document.images, function (im) { return [im.getAttribute("src"), im.complete, im.naturalWidth]; })
})"""


@dataclass
class PageResult:
    """What loading one page showed."""

    console_errors: list[str] = field(default_factory=list)  # console.error/assert, uncaught exceptions, log errors
    failed_loads: list[str] = field(default_factory=list)  # "url: net::ERR_..." of every failed request
    images: list[tuple[str, bool, int]] = field(default_factory=list)  # (src, complete, naturalWidth)
    title: str = ""
    text: str = ""  # the body's visible text after the load event

    @property
    def problems(self) -> list[str]:
        """Every error and failed load, and every image that did not render."""
        broken = [f"image not rendered: {src} (complete={ok}, naturalWidth={w})" for src, ok, w in self.images
                  if not ok or w <= 0]
        return [*self.console_errors, *self.failed_loads, *broken]


def find_chromium() -> str:
    """Path of the ``chromium`` executable; raises ``RuntimeError`` saying how to install it when missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError(f"headless Chromium is needed for this test and was not found on PATH; {INSTALL_HINT}")


def _remote_text(obj: dict) -> str:
    return str(obj.get("value", obj.get("description", obj.get("type", "?"))))


class _Browser:
    """A minimal DevTools client over the pipe transport; events are folded into a :class:`PageResult`."""

    def __init__(self, read_fd: int, write_fd: int, result: PageResult, deadline: float):
        self.read_fd, self.write_fd, self.result, self.deadline = read_fd, write_fd, result, deadline
        self.buffer, self.next_id, self.urls, self.loaded = b"", 0, {}, False

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.write_fd, data):]
        return self.next_id

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        wanted = self.send(method, params, session)
        while True:
            msg = self.receive(self.deadline)
            if msg is None:
                raise TimeoutError(f"Chromium did not answer {method} in time")
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"DevTools {method} failed: {msg['error']}")
                return msg.get("result", {})

    def receive(self, until: float) -> dict | None:
        """The next message (events are recorded on the way), or ``None`` when ``until`` passes first."""
        while b"\0" not in self.buffer:
            left = until - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                return None
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (did it crash? see its stderr)")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.record(msg["method"], msg.get("params", {}))
        return msg

    def record(self, method: str, params: dict) -> None:
        res = self.result
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            res.console_errors.append(f"console.{params['type']}: " + " ".join(map(_remote_text, params["args"])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            res.console_errors.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            res.console_errors.append(f"log {entry.get('source', '')} error: {entry.get('text', '')} "
                                      f"{entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            self.urls[params.get("requestId")] = params.get("request", {}).get("url", "?")
        elif method == "Network.loadingFailed":
            url = self.urls.get(params.get("requestId"), "?")
            res.failed_loads.append(f"{url}: {params.get('errorText', '')}")
        elif method == "Page.loadEventFired":
            self.loaded = True


def load_page(path: str | Path, timeout: float = 60.0, settle: float = 0.5) -> PageResult:
    """Opens ``path`` (a local HTML file) in headless Chromium and reports errors and image states.

    Args:
        path: the HTML file; opened as a ``file://`` URL.
        timeout: seconds for the whole run (browser start included).
        settle: seconds to keep listening after the load event, for late errors.

    Returns:
        What the page showed; ``problems`` lists everything that went wrong.

    Raises:
        RuntimeError: Chromium is missing, crashed, or refused the page.
        TimeoutError: the page did not load within ``timeout``.
    """
    url = Path(path).resolve().as_uri()
    exe = find_chromium()
    deadline = time.monotonic() + timeout
    result = PageResult()
    with tempfile.TemporaryDirectory(prefix="lensdb-chromium-") as profile:
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        res_r, res_w = os.pipe()  # Chromium writes replies and events on fd 4
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--no-default-browser-check",
                 "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync", "--mute-audio",
                 f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        stderr_path = Path(profile) / "stderr.txt"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-c", _FD_SHIM, str(cmd_r), str(res_w), exe, *flags],
                                    pass_fds=(cmd_r, res_w), stdin=subprocess.DEVNULL, stdout=stderr,
                                    stderr=stderr, start_new_session=True)
        os.close(cmd_r)
        os.close(res_w)
        try:
            browser = _Browser(res_r, cmd_w, result, deadline)
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                browser.call(f"{domain}.enable", session=session)
            nav = browser.call("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                raise RuntimeError(f"Chromium could not open {url}: {nav['errorText']}")
            while not browser.loaded:
                if browser.receive(deadline) is None:
                    raise TimeoutError(f"{url} did not finish loading within {timeout:g} s")
            settle_until = min(deadline, time.monotonic() + settle)
            while browser.receive(settle_until) is not None:
                pass
            state = browser.call("Runtime.evaluate", {"expression": _PAGE_STATE, "returnByValue": True},
                                 session=session)
            if "exceptionDetails" in state:
                raise RuntimeError(f"evaluating the page state failed: {state['exceptionDetails']}")
            page = json.loads(state["result"]["value"])
            result.title, result.text = page["title"], page["text"]
            result.images = [(src, bool(ok), int(width)) for src, ok, width in page["images"]]
            browser.send("Browser.close")
            proc.wait(timeout=max(1.0, min(10.0, deadline - time.monotonic())))
        except (RuntimeError, TimeoutError) as exc:
            log = stderr_path.read_text(errors="replace")[-2000:] if stderr_path.exists() else ""
            raise type(exc)(f"{exc}\n--- chromium stderr (tail) ---\n{log}") from exc
        finally:
            os.close(cmd_w)
            os.close(res_r)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            try:  # its helper processes (zygote, renderer) share the new session's process group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return result
