"""Headless Chromium (Debian's package) for the tests that check a page or an email as a browser
shows it: the DOM it ends up with, or the colours it paints."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from websockets.sync.client import connect

from tests.ports import free_port

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
        port = free_port()
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
def screenshot(url: str, profile: Path, *extra: str, size: str = "800,600", timeout: float = 60) -> Path:
    """Load ``url`` in headless Chromium and return the PNG of what it painted."""
    target = profile.parent / f"{profile.name}-screenshot.png"
    command = [*chromium_command(profile, *extra), f"--window-size={size}", f"--screenshot={target}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0 and target.exists(), done.stderr[-2000:]
    return target


def png_colours(path: Path) -> Counter[tuple[int, int, int]]:
    """How many pixels of each RGB colour a screenshot has (8-bit RGB or RGBA, not interlaced)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an 8-bit RGB(A) PNG"
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):  # the PNG filters (RFC 2083, 6)
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        counts.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return counts
