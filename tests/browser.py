"""Headless Chromium (Debian's package) for the tests that check a page or an email as a browser
shows it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(profile: Path, *extra: str) -> list[str]:
    """Headless Chromium with a profile of its own, fetching nothing it was not asked for."""
    assert CHROMIUM is not None
    return [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-proxy-server", f"--user-data-dir={profile}", *extra,
    ]  # fmt: skip


def chromium(url: str, profile: Path, *extra: str, timeout: float = 60) -> str:
    """Load ``url`` in headless Chromium and return the DOM it ended up with."""
    command = [*chromium_command(profile, *extra), "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class BrowserTab:
    """One tab of headless Chromium driven over the DevTools protocol: open a page, fill in and
    click as a person would, read what it shows. Close it (or use it as a context manager)."""

    def __init__(self, profile: Path, *extra: str, timeout: float = 30) -> None:
        self.timeout = timeout
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = chromium_command(
            profile, f"--remote-debugging-port={port}", "--remote-allow-origins=*", *extra
        )
        self.process = subprocess.Popen(
            [*command, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        socket_url = None
        while socket_url is None:  # readiness: the browser lists its tab once it is up
            assert self.process.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                    tabs = json.load(answer)
                socket_url = next((t["webSocketDebuggerUrl"] for t in tabs if t.get("type") == "page"), None)
            except OSError:
                pass
            if socket_url is None:
                time.sleep(0.05)
        self._closing = ExitStack()
        self.socket = self._closing.enter_context(connect(socket_url, max_size=None, open_timeout=timeout))
        self._next_id = 0

    def __enter__(self) -> BrowserTab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, method: str, **params: object) -> dict[str, object]:
        """Send one DevTools command and return its result (events arriving meanwhile are skipped)."""
        self._next_id += 1
        ident = self._next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=self.timeout))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, object] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> object:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        value = result.get("result")
        return value.get("value") if isinstance(value, dict) else None

    def wait_for(self, expression: str, timeout: float | None = None) -> object:
        """Evaluate ``expression`` until it is truthy (pages navigate meanwhile); its value."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is between documents
            if value:
                return value
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.05)

    def open(self, url: str) -> None:
        """Load ``url`` and wait until the document has loaded."""
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def close(self) -> None:
        try:
            self._closing.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def chromium_tab(profile: Path, *extra: str) -> Iterator[BrowserTab]:
    """A headless Chromium (with ``extra`` command-line switches) and its tab; closed afterwards."""
    profile.mkdir(parents=True, exist_ok=True)
    with BrowserTab(profile, *extra) as tab:
        yield tab
