"""Shared test configuration: strict CI mode, free ports, a real Redis server.

``WEBSOCK_REQUIRE_ALL=1`` (set by ``.ci/run``) turns every skip into a failure that keeps the
skip's reason: a test may skip on a developer's machine that lacks Redis, Chromium or
Python 2.7, but CI must run everything. xfail is not a skip and stays as it is.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

# The host contract suite's fixtures (tests/contract). pytest only accepts pytest_plugins in a
# top-level conftest, and this one is: testpaths = ["tests"].
pytest_plugins = ["websock.contract.plugin"]

# Plugins must be named here, in the top-level conftest (pytest refuses pytest_plugins in
# conftest files below it): the host contract suite's plugin (tests/contract) and pytester
# (tests/test_conftest.py runs pytest inside pytest).
pytest_plugins = ["websock.contract.plugin", "pytester"]

REQUIRE_ALL_ENV = "WEBSOCK_REQUIRE_ALL"


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


# -- skips become failures under WEBSOCK_REQUIRE_ALL=1 -------------------------------------------


def _skip_reason(longrepr: object) -> str:
    # A skip's longrepr is the tuple (path, lineno, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{REQUIRE_ALL_ENV}=1 forbids skipping, and this was skipped: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Covers skip markers, pytest.skip() in tests and fixtures (setup phase) alike.
    report = yield
    if require_all() and report.skipped and not hasattr(report, "wasxfail"):
        _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # Module-level pytest.importorskip()/pytest.skip(allow_module_level=True) skip at collection.
    report = yield
    if require_all() and report.skipped:
        _as_failure(report)
    return report


# -- free ports -------------------------------------------------------------------------------

_handed_out: set[int] = set()


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on now and that no other test of this run was given.

    The kernel picks it (bind to port 0); a port is never handed out twice per process, so
    two servers started by one test cannot collide with each other.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("the kernel kept handing out ports that were already used")


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_tcp_port()


@pytest.fixture
def free_port_factory() -> Callable[[], int]:
    """Call it for as many distinct free TCP ports on 127.0.0.1 as a test needs."""
    return free_tcp_port


# -- Redis --------------------------------------------------------------------------------------


class RedisServer(str):
    """A running ``redis-server``: the value is its URL, ``redis://127.0.0.1:N/0``.

    Being a ``str``, it goes straight into ``websock.PubSub(redis_server)`` or
    ``redis.asyncio.from_url(redis_server)``. ``kill()`` and ``restart()`` let a test take
    Redis away mid-test and bring it back on the same port (clients reconnect to the same URL).
    """

    port: int
    _workdir: Path
    _process: subprocess.Popen[bytes] | None

    def __new__(cls, port: int, workdir: Path) -> RedisServer:
        self = super().__new__(cls, f"redis://127.0.0.1:{port}/0")
        self.port = port
        self._workdir = workdir
        self._process = None
        return self

    @property
    def url(self) -> str:
        return str(self)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            return
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not on PATH")
        # No persistence: a test server must leave nothing behind and never block on disk.
        command = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._workdir),
            "--daemonize", "no",
        ]  # fmt: skip
        log = (self._workdir / "redis.log").open("ab")
        try:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server answers PING; fail with its log if it died or never answered."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if not self.running:
                raise RuntimeError(f"redis-server exited early:\n{self.log_tail()}")
            if self.ping():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"redis-server did not answer PING within {timeout}s:\n{self.log_tail()}"
                )
            # Readiness polling with backoff: redis-server offers no readiness signal of its own
            # that would not also need polling (its log file).
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the server answers an inline PING (RESP: ``+PONG``)."""
        return self.command("PING", timeout=timeout) == "+PONG"

    def command(self, line: str, timeout: float = 1.0) -> str | None:
        """Send one inline command and return the first reply line, None if unreachable."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(line.encode() + b"\r\n")
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return None
        return reply.split(b"\r\n", 1)[0].decode(errors="replace")

    def kill(self, *, graceful: bool = False, timeout: float = 10.0) -> None:
        """Stop the server: SIGKILL by default (a crash), SIGTERM with ``graceful=True``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._process = None

    def restart(self, timeout: float = 10.0) -> None:
        """Kill (if running) and start again on the same port."""
        self.kill()
        self.start(timeout)

    def flushall(self) -> None:
        if self.command("FLUSHALL") != "+OK":
            raise RuntimeError(f"FLUSHALL failed on {self}")

    def log_tail(self, lines: int = 30) -> str:
        path = self._workdir / "redis.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def _redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found on PATH (Debian: apt-get install -y redis-server)")
    server = RedisServer(free_tcp_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill(graceful=True)


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> RedisServer:
    """A real Redis for this test: one server per session, running and empty at test start.

    A test that killed it (``redis_server.kill()``) and failed before ``restart()`` does not
    leave the next test without Redis: the server is started again here.
    """
    if not _redis_session.running:
        _redis_session.start()
    _redis_session.flushall()
    return _redis_session
