"""Benchmark websock against the peer WebSocket servers, side by side, in one run.

    python bench/run.py [--quick] [--servers NAME ...] [--workloads a b ...] [--repeat N]

Each server runs in its own process pinned to CPU 0; the load generator (bench/loadgen.py)
runs in its own process pinned to CPU 1. For each workload, the servers are interleaved
(A B C A B C ...) for --repeat rounds, each run a fresh server process: start, wait for
the port, warm up, measure, stop. Medians and ratios go to <out>/latest.md, a chart to
<out>/latest.png, every single run to <out>/latest.json; server output to <out>/logs/.
Methodology and the latest figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "src", ROOT):  # run as a script: make `bench` and `websock` importable
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench import report  # noqa: E402
from bench.servers import BY_NAME, SERVERS, Server  # noqa: E402

HOST = "127.0.0.1"
WORKLOADS = "abcde"
VERSIONED = ["pywebsock", "picows", "aiohttp", "websockets", "uvicorn", "wsproto", "hypercorn",
             "granian", "uvloop", "httptools"]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument(
        "--servers", nargs="+", metavar="NAME", help="space- or comma-separated (see --list)"
    )
    parser.add_argument(
        "--workloads", nargs="+", metavar="W", help=f"letters from {WORKLOADS!r} (default: all)"
    )
    parser.add_argument("--repeat", type=int, help="runs per server and workload (3; quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (1; quick 0.3)")
    parser.add_argument("--duration", type=float, help="seconds measured (3; quick 1)")
    parser.add_argument("--idle-connections", type=int, help="workload d (5000; quick 500)")
    parser.add_argument("--subscribers", type=int, help="workload e (10000; quick 1000)")
    parser.add_argument("--rounds", type=int, help="broadcasts in workload e (5; quick 3)")
    parser.add_argument("--reference", default="picows", help="ratios are to this server")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="(bench/results)"
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--update-docs",
        metavar="NOTE",
        help="also put the tables into docs/performance.md, after this note (e.g. the caveats)",
    )
    parser.add_argument("--list", action="store_true", help="list the servers and exit")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults: dict[str, Any] = {
        "repeat": 1 if quick else 3,
        "warmup": 0.3 if quick else 1.0,
        "duration": 1.0 if quick else 3.0,
        "idle_connections": 500 if quick else 5000,
        "subscribers": 1000 if quick else 10000,
        "rounds": 3 if quick else 5,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.servers = _names(args.servers) or [server.name for server in SERVERS if server.default]
    args.workloads = _names(args.workloads) or list(WORKLOADS)
    for name in args.servers:
        if name not in BY_NAME:
            parser.error(f"unknown server {name!r}; choose from {', '.join(BY_NAME)}")
    for name in args.workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    return args


def _names(values: list[str] | None) -> list[str]:
    return [name for value in values or () for name in value.split(",") if name]


# --- processes -------------------------------------------------------------------------------


def cpu_plan() -> tuple[set[int] | None, set[int] | None]:
    """CPU sets for (server, load generator): one core each when there are two."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None  # nothing to separate; the report says so
    return {cpus[0]}, {cpus[1]}


def _pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return env


def raise_fd_limit() -> None:
    # Workloads d and e hold thousands of sockets in both processes (children inherit this).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float) -> str | None:
    """Poll until the port accepts a connection; return an error text if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"server exited with code {process.returncode} before listening"
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.05)
    return f"server did not listen within {timeout:.0f} s"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (it was started in its own session), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            # Workers of a forking server (granian) may outlive the parent: finish them too.
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        return


def loadgen_args(args: argparse.Namespace, workload: str) -> list[str]:
    return [
        *("--warmup", str(args.warmup), "--duration", str(args.duration)),
        *("--idle-connections", str(args.idle_connections)),
        *("--subscribers", str(args.subscribers), "--rounds", str(args.rounds)),
    ]


def run_one(server: Server, workload: str, args: argparse.Namespace) -> dict[str, Any]:
    server_cpus, loadgen_cpus = cpu_plan()
    port = free_port()
    env = child_env()
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{server.name}.log", "ab") as log:
        log.write(f"--- workload {workload}, port {port}, {time.ctime()}\n".encode())
        log.flush()
        process = subprocess.Popen(
            server.command(HOST, port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned(server_cpus),
        )
        try:
            error = wait_listening(process, port, timeout=30)
            if error is not None:
                return {"error": f"{error} (see {logs / (server.name + '.log')})"}
            command = [sys.executable, "-m", "bench.loadgen", workload, "--port", str(port)]
            command += ["--server-pid", str(process.pid), *loadgen_args(args, workload)]
            if server.raw:
                command.append("--raw")
            if server_cpus is not None:
                command += ["--server-core", str(min(server_cpus))]
            budget = args.warmup + args.duration + 120
            try:
                done = subprocess.run(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=budget,
                    preexec_fn=_pinned(loadgen_cpus),
                )
            except subprocess.TimeoutExpired:
                return {"error": f"load generator still running after {budget:.0f} s"}
            lines = done.stdout.decode().strip().splitlines()
            if done.returncode != 0 or not lines:
                tail = done.stderr.decode().strip().splitlines()[-1:] or ["no output"]
                return {"error": f"load generator failed: {tail[0]}"}
            result: dict[str, Any] = json.loads(lines[-1])
            return result
        finally:
            stop(process)


# --- the run ---------------------------------------------------------------------------------


def availability(args: argparse.Namespace) -> tuple[list[Server], dict[str, str]]:
    ready: list[Server] = []
    missing: dict[str, str] = {}
    for name in args.servers:
        server = BY_NAME[name]
        reason = server.unavailable()
        if reason is None:
            ready.append(server)
        else:
            missing[name] = reason
    return ready, missing


def skip_reason(server: Server, workload: str) -> str | None:
    if workload not in server.workloads:
        return "n/a (not a WebSocket server)"
    if workload == "e" and not server.broadcast():
        return "n/a (no broadcast support)"
    return None


def run(args: argparse.Namespace) -> report.Results:
    ready, missing = availability(args)
    for name, reason in missing.items():
        print(f"unavailable: {name}: {reason}", flush=True)
    results: report.Results = {}
    for workload in args.workloads:
        cells: dict[str, report.Cell] = {}
        for name in args.servers:
            if name in missing:
                cells[name] = report.Cell([], skipped=f"unavailable: {missing[name]}")
        active: list[Server] = []
        for server in ready:
            skipped = skip_reason(server, workload)
            if skipped is None:
                active.append(server)
            cells[server.name] = report.Cell([], skipped=skipped)
        for round_ in range(args.repeat):
            for server in active:  # interleaved: A B C A B C ...
                started = time.monotonic()
                result = run_one(server, workload, args)
                cells[server.name].runs.append(result)
                took = time.monotonic() - started
                print(f"[{workload} {round_ + 1}/{args.repeat}] {server.name:16} {took:5.1f}s "
                      f"{json.dumps(result)}", flush=True)  # fmt: skip
        results[workload] = {name: cells[name] for name in args.servers}
    return results


def machine() -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    server_cpus, loadgen_cpus = cpu_plan()
    pinning = (
        f"server pinned to CPU {sorted(server_cpus)[0]}, load generator to CPU "
        f"{sorted(loadgen_cpus)[0]}"
        if server_cpus and loadgen_cpus
        else "no pinning (fewer than 2 CPUs available)"
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- websock at commit {commit or 'unknown'}.",
        f"- Machine: {os.cpu_count()} x {model}; Linux {platform.release()}; "
        f"Python {platform.python_version()}; {pinning}.",
        f"- Versions: {', '.join(versions)}.",
    ]


def preamble(args: argparse.Namespace, started: str, load_before: str) -> list[str]:
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [
        "# Benchmark results",
        "",
        f"- Run: {started} UTC, `{' '.join(['python bench/run.py', *sys.argv[1:]])}`.",
        *machine(),
        f"- Settings: {args.repeat} run(s) per server and workload, interleaved; "
        f"{args.warmup} s warm-up, {args.duration} s measured; figures are medians.",
        f"- Load average (1/5/15 min) before: {load_before}; after: {load_after}. "
        "Other processes on the machine make figures noisy: compare ratios within one run.",
        f"- Ratios (x {args.reference}) divide this row's median by {args.reference}'s "
        "median; for KiB/conn and ms, lower is better.",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for server in SERVERS:
            reason = server.unavailable()
            extra = "" if server.default else " (only when named in --servers)"
            state = "ok" if reason is None else reason
            print(f"{server.name:16} {state}: {server.description}{extra}")
        return
    raise_fd_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t0 = time.monotonic()
    results = run(args)
    specs = report.workloads(args.idle_connections, args.subscribers)
    text = report.markdown(results, specs, args.reference, preamble(args, started, load_before))
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(json.dumps(list(report.flatten(results)), indent=1))
    if not args.no_chart:
        try:
            report.chart(
                results, specs, args.out / "latest.png", f"websock benchmark, {started} UTC"
            )
        except ImportError as exc:  # the tables are written already; say why there is no chart
            print(f"no chart: {exc} (pip install matplotlib, or the dev extra)", flush=True)
    if args.update_docs:
        report.embed(ROOT / "docs" / "performance.md", text, args.update_docs)
    print(text)
    print(f"done in {time.monotonic() - t0:.0f} s; results in {args.out}", flush=True)


if __name__ == "__main__":
    main()
