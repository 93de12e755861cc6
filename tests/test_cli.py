"""The CLI in real subprocesses: ``python -m websock serve module:app`` and ``demo``,
SIGTERM/SIGINT draining with 1001 and exit status 0, ``--workers``, TLS."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from tests.server.certs import client_context, make_certificate

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0
APP = "tests.server.server_apps:app"
_SERVING = re.compile(r"\[(\d+)\] INFO websock\.server: websock serving \S+ on (wss?://\S+)")


class Cli:
    """A ``python -m websock`` subprocess whose stderr (the log) is read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._new = asyncio.Event()
        assert proc.stderr is not None
        self._reader = asyncio.ensure_future(self._read(proc.stderr))

    @classmethod
    async def start(
        cls, *args: str, env: dict[str, str] | None = None, new_session: bool = False
    ) -> Cli:
        env = dict(os.environ, **(env or {}))
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "websock",
            *args,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=new_session,
        )
        return cls(proc)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._new.set()

    async def wait_for(self, pattern: re.Pattern[str] | str, count: int = 1) -> list[re.Match[str]]:
        """Wait until ``count`` log lines match ``pattern``; return the matches."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        async with asyncio.timeout(TIMEOUT):
            while True:
                matches = [m for line in self.lines if (m := regex.search(line))]
                if len(matches) >= count:
                    return matches
                if self._reader.done():
                    raise AssertionError("process ended; log:\n" + "\n".join(self.lines))
                self._new.clear()
                await self._new.wait()

    async def url(self, count: int = 1) -> str:
        return (await self.wait_for(_SERVING, count))[0].group(2)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return await self.exit_status()

    async def exit_status(self) -> int:
        async with asyncio.timeout(TIMEOUT):
            status = await self.proc.wait()
            await self._reader
        return status

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def cli() -> AsyncIterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for process in started:
        process.kill()
        await process.exit_status()


async def start(
    started: list[Cli], *args: str, env: dict[str, str] | None = None, new_session: bool = False
) -> Cli:
    process = await Cli.start(*args, env=env, new_session=new_session)
    started.append(process)
    return process


async def echo_once(url: str, text: str = "hi") -> None:
    async with asyncio.timeout(TIMEOUT), websockets.connect(url) as ws:
        await ws.send(text)
        assert await ws.recv() == text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serve_then_signal_drains_with_1001_and_exits_0(cli: list[Cli], signum: int) -> None:
    server = await start(cli, "serve", APP, "--port", "0")
    url = await server.url()
    assert url.startswith("ws://127.0.0.1:")
    async with asyncio.timeout(TIMEOUT):
        clients = [await websockets.connect(url + "/probe") for _ in range(3)]
        for ws in clients:
            await ws.send("ready")
            assert await ws.recv() == "ready"
        assert await server.stop(signum) == 0
        for ws in clients:
            await ws.wait_closed()
    assert [ws.close_code for ws in clients] == [1001] * 3
    assert {ws.close_reason for ws in clients} == {"server shutting down"}
    log = "\n".join(server.lines)
    assert f"{signal.Signals(signum).name} received" in log
    assert "websock server stopped" in log


async def test_shutdown_code_option(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0", "--shutdown-code", "1012")
    url = await server.url()
    async with asyncio.timeout(TIMEOUT), websockets.connect(url + "/echo") as ws:
        await ws.send("x")
        await ws.recv()
        assert await server.stop() == 0
        await ws.wait_closed()
    assert ws.close_code == 1012


async def test_busy_poll_option(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0", "--busy-poll", "0.0001")
    url = await server.url()
    for text in ("one", "two", "three"):
        await echo_once(url + "/echo", text)
    assert "busy polling: up to 100 µs after each read" in "\n".join(server.lines)
    assert await server.stop() == 0
    wrong_unit = await start(cli, "serve", APP, "--port", "0", "--busy-poll", "100")
    assert await wrong_unit.exit_status() == 1
    assert "--busy-poll: busy_poll must be between 0 (off) and 0.01 seconds" in "\n".join(
        wrong_unit.lines
    )


async def test_rejected_handshake_is_logged_once_with_its_reason(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0")
    url = await server.url()
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    )
    async with asyncio.timeout(TIMEOUT):
        assert (await reader.readline()).startswith(b"HTTP/1.1 400")
    writer.close()
    (match,) = await server.wait_for(r"rejected GET /echo from 127\.0\.0\.1:\d+: 400 .*Key")
    assert match is not None
    assert await server.stop() == 0


async def test_workers_share_the_port_restart_and_drain(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0", "--workers", "2")
    matches = await server.wait_for(_SERVING, 2)
    pids = {int(m.group(1)) for m in matches}
    urls = {m.group(2) for m in matches}
    assert len(pids) == 2 and len(urls) == 1
    url = urls.pop()
    for i in range(10):
        await echo_once(url + "/echo", f"round {i}")
    # A crashed worker is replaced, and the port keeps serving meanwhile.
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    await server.wait_for(rf"worker \d+ \(pid {victim}\) exited with status -9; restarting")
    await server.wait_for(_SERVING, 3)
    for i in range(10):
        await echo_once(url + "/echo", f"after restart {i}")
    async with asyncio.timeout(TIMEOUT):
        clients = [await websockets.connect(url + "/probe") for _ in range(6)]
        assert await server.stop() == 0
        for ws in clients:
            await ws.wait_closed()
    assert {ws.close_code for ws in clients} == {1001}
    assert "all workers stopped" in "\n".join(server.lines)


async def test_tls_options(cli: list[Cli], tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = await start(
        cli, "serve", APP, "--port", "0", "--certfile", str(cert), "--keyfile", str(key)
    )
    url = await server.url()
    assert url.startswith("wss://")
    async with (
        asyncio.timeout(TIMEOUT),
        websockets.connect(url + "/echo", ssl=client_context(cert)) as ws,
    ):
        await ws.send("secure")
        assert await ws.recv() == "secure"
    assert await server.stop() == 0


async def test_uvloop_and_httptools_by_default(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0")
    await server.wait_for(r"event loop: uvloop; HTTP parser: httptools")
    await echo_once(await server.url() + "/echo")
    assert await server.stop() == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--no-uvloop", "--http-parser", "python"], {}),
        ([], {"WEBSOCK_NO_EXTENSIONS": "1"}),
    ],
)
async def test_stdlib_event_loop_and_python_parser(
    cli: list[Cli], args: list[str], env: dict[str, str]
) -> None:
    server = await start(cli, "serve", APP, "--port", "0", *args, env=env)
    await server.wait_for(r"event loop: asyncio; HTTP parser: python")
    await echo_once(await server.url() + "/echo")
    assert await server.stop() == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:app", "cannot import module"),
        ("tests.server.server_apps:nope", "has no 'nope'"),
        ("tests.server.server_apps", "module:attribute"),
        ("tests.server.server_apps:MiB", "not callable"),
    ],
)
async def test_bad_app_spec_is_a_clear_error(cli: list[Cli], spec: str, message: str) -> None:
    server = await start(cli, "serve", spec)
    assert await server.exit_status() != 0
    assert message in "\n".join(server.lines)


async def test_demo_prints_its_url_and_serves_the_page(cli: list[Cli]) -> None:
    demo = await start(cli, "demo", "--port", "0")
    assert demo.proc.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        banner = (await demo.proc.stdout.readline()).decode()
    match = re.search(r"open (http://127\.0\.0\.1:\d+)/", banner)
    assert match is not None, banner
    http_url = match.group(1)
    host, port = http_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(TIMEOUT):
        page = await reader.read()
    writer.close()
    assert page.startswith(b"HTTP/1.1 200") and b"<title>websock chat</title>" in page
    ws_url = "ws" + http_url.removeprefix("http") + "/ws?room=r&name=ann"
    async with asyncio.timeout(TIMEOUT), websockets.connect(ws_url) as ws:
        assert '"type": "welcome"' in str(await ws.recv())
        await ws.send("hello room")
        assert '"text": "hello room"' in str(await ws.recv())
    assert await demo.stop() == 0


async def test_port_in_use_and_bad_shutdown_code_are_clear_errors(cli: list[Cli]) -> None:
    first = await start(cli, "serve", APP, "--port", "0")
    port = (await first.url()).rsplit(":", 1)[1]
    second = await start(cli, "serve", APP, "--port", port)
    assert await second.exit_status() == 1
    assert f"cannot listen on 127.0.0.1:{port}" in "\n".join(second.lines)
    third = await start(cli, "serve", APP, "--shutdown-code", "1005")
    assert await third.exit_status() == 1
    assert "--shutdown-code" in "\n".join(third.lines)
    assert await first.stop() == 0


async def process_exit(pid: int) -> None:
    """Wait for any process (not only our child) to exit, through a pidfd (Linux 5.3+)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, on_exit)
    try:
        async with asyncio.timeout(TIMEOUT):
            await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_ctrl_c_on_workers_drains_gracefully(cli: list[Cli]) -> None:
    # A terminal's Ctrl-C signals the whole foreground process group: here, the group of
    # a supervisor started in its own session, as a shell would.
    server = await start(cli, "serve", APP, "--port", "0", "--workers", "2", new_session=True)
    url = (await server.wait_for(_SERVING, 2))[0].group(2)
    async with asyncio.timeout(TIMEOUT):
        clients = [await websockets.connect(url + "/probe") for _ in range(6)]
        os.killpg(server.proc.pid, signal.SIGINT)
        assert await server.exit_status() == 0
        for ws in clients:
            await ws.wait_closed()
    assert {ws.close_code for ws in clients} == {1001}
    assert "received again" not in "\n".join(server.lines)


async def test_a_worker_whose_supervisor_died_while_it_started_stops(cli: list[Cli]) -> None:
    # The supervisor's pid in the environment is not this process's parent: the supervisor
    # died (and the worker was reparented) before the worker began to watch it.
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    async with asyncio.timeout(TIMEOUT):
        await gone.wait()
    worker = await start(
        cli, "serve", APP, "--port", "0", env={"WEBSOCK_SUPERVISOR_PID": str(gone.pid)}
    )
    assert await worker.exit_status() == 0
    assert f"supervisor (pid {gone.pid}) is gone" in "\n".join(worker.lines)


async def test_workers_stop_when_their_supervisor_dies(cli: list[Cli]) -> None:
    server = await start(cli, "serve", APP, "--port", "0", "--workers", "2")
    matches = await server.wait_for(_SERVING, 2)
    url = matches[0].group(2)
    async with asyncio.timeout(TIMEOUT), websockets.connect(url + "/probe") as ws:
        server.proc.kill()
        await server.exit_status()
        for match in matches:
            await process_exit(int(match.group(1)))
        await ws.wait_closed()
    assert ws.close_code == 1001
