"""What the HTTP benchmarks (tracking, forms, lead API) share: a demo workspace, the server in its
own process on a free loopback port, keep-alive connections sharing the requests, and the figures.

Each benchmark is one script playing three parts: the orchestrator (prepares the workspace and
prints the table), the server (``--serve ROOT PORT``) and the load (``--load PORT FILE``), so the
load's event loop never competes with the server's inside one process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

Request = TypeVar("Request")

SECRET_KEY = "benchmark-secret-key-0123456789"


# -- the server process ----------------------------------------------------------------------------


def serve(root: Path, port: int) -> None:
    """Serve the workspace at ``root`` on loopback until SIGTERM, as ``nurture serve`` does."""
    # why: only the server process loads the application; the load process stays light
    from nurture.http import HttpContext, build_server, create_app
    from nurture.workspace import Workspace

    app = create_app(HttpContext.from_workspace(Workspace(root)))
    build_server(app, "127.0.0.1", port, log_level="warning").run()


def demo_workspace(root: Path, settings: str = "") -> Engine:
    """The demo program in ``root`` with a migrated SQLite database and ``settings`` (TOML lines)
    added to the workspace's; the database's engine, for the caller to fill and dispose of."""
    # why: only the orchestrator prepares a workspace; the load process never loads nurture
    from nurture.demo_program import demo_program_root
    from nurture.store.engine import create_store_engine
    from nurture.store.migrate import upgrade
    from nurture.workspace import Workspace

    for folder in ("campaigns", "templates"):
        shutil.copytree(demo_program_root() / folder, root / folder)
    (root / "nurture.toml").write_text(
        f'database_url = "sqlite:///bench.db"\nsecret_key = "{SECRET_KEY}"\ntimezone = "Europe/Berlin"\n'
        + settings,
        encoding="utf-8",
    )
    engine = create_store_engine(Workspace(root).database_url)
    upgrade(engine)
    return engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


@contextmanager
def running_server(script: str, root: Path) -> Iterator[int]:
    """``script --serve ROOT PORT`` running on a free port, which is yielded once it accepts
    connections; stopped with SIGTERM, as a service manager would, on the way out."""
    port = free_port()
    server = subprocess.Popen([sys.executable, script, "--serve", str(root), str(port)])
    try:
        wait_ready(port, server)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def uvicorn_flavour() -> str:
    """uvicorn picks httptools and uvloop when they are installed (uvicorn[standard]), else h11
    and asyncio: the figures depend on which."""
    parser_name = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop_name = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{parser_name}, {loop_name}"


# -- the load process ------------------------------------------------------------------------------


def run_load(command: Sequence[str], port: int, requests_file: Path) -> dict[str, float]:
    """Run ``command --load PORT FILE`` (the load process) and return the figures it printed."""
    out = subprocess.run(
        [*command, "--load", str(port), str(requests_file)], check=True, capture_output=True, text=True
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer on a keep-alive connection: its head and its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return head, await reader.readexactly(length) if length else b""


async def drive(
    port: int,
    requests: list[Request],
    connections: int,
    seconds: float | None,
    request: Callable[[Request], bytes],
    answered: Callable[[bytes, bytes], bool],
) -> dict[str, float]:
    """The requests dealt out over ``connections`` keep-alive connections running at once, each
    sent as ``request`` makes it and counted an error unless ``answered(head, body)``; a connection
    stops when ``seconds`` (if given) are up. The :func:`figures` of the run."""
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None

    async def connection(share: list[Request]) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        errors = 0
        try:
            for item in share:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                data = request(item)
                sent = time.perf_counter()
                writer.write(data)
                head, body = await read_answer(reader)
                latencies.append(time.perf_counter() - sent)
                if not answered(head, body):
                    errors += 1
        finally:
            writer.close()
        return errors

    errors = await asyncio.gather(*(connection(requests[i::connections]) for i in range(connections)))
    return figures(latencies, sum(errors), time.perf_counter() - started)


def figures(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    """Requests, errors, seconds, requests/s and the p50/p90/p99 latency in milliseconds."""
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0

    return {
        "requests": len(ordered), "errors": errors, "seconds": seconds, "per_s": len(ordered) / seconds,
        "p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
    }  # fmt: skip
