"""Autobahn|Testsuite runner: install wstest, start a server, run the fuzzing client, judge.

Autobahn|Testsuite (``wstest``) is Python 2.7 software. It is installed with a Python 2.7
(pyenv's 2.7.18, or ``python2.7`` on PATH) into ``.autobahn/site`` and run from there. Its
fuzzing client connects to the server under test and plays every case; the server must
echo. A case passes only if both its ``behavior`` and its ``behaviorClose`` are OK or
INFORMATIONAL: NON-STRICT, UNIMPLEMENTED and FAILED all fail the run.

Stdlib only, usable from pytest and from the command line (run from the repository root)::

    python tests/conformance/autobahn_suite.py install
    python tests/conformance/autobahn_suite.py run [--cases '1.*,2.*'] [--agent NAME] -- CMD...
    python tests/conformance/autobahn_suite.py summarize [--write docs/conformance.md]

``CMD`` is the server's command line; ``{port}`` and ``{python}`` in it are replaced by the
port to listen on (127.0.0.1) and by this interpreter. Hosts reuse the runner the same way,
from Python::

    result = run_suite(["{python}", "-m", "uvicorn", "my.app:asgi", "--port", "{port}"],
                       agent="uvicorn")
    result.check()   # AssertionError with the summary and every failing case

``WEBSOCK_AUTOBAHN_CASES`` (e.g. ``1.*,2.*,7.1.1``) and ``WEBSOCK_AUTOBAHN_EXCLUDE`` select
cases for quick runs; the default is all 517.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUTOBAHN_DIR = ROOT / ".autobahn"
SITE = AUTOBAHN_DIR / "site"
WSTEST = SITE / "bin" / "wstest"
REPORTS = ROOT / "reports"
DOC = ROOT / "docs" / "conformance.md"

#: The version we validated; pinned so that every machine runs the same cases.
AUTOBAHN_REQUIREMENT = "autobahntestsuite==25.10.1"
PYTHON27_ENV = "WEBSOCK_PYTHON27"
CASES_ENV = "WEBSOCK_AUTOBAHN_CASES"
EXCLUDE_ENV = "WEBSOCK_AUTOBAHN_EXCLUDE"

PASSING = frozenset({"OK", "INFORMATIONAL"})
#: Every verdict wstest can give, in the order the summary shows them.
VERDICTS = ("OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED")

#: Autobahn's case groups (its own titles).
GROUP_TITLES = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc",
    "12": "WebSocket Compression (different payloads)",
    "13": "WebSocket Compression (different parameters)",
}


class AutobahnUnavailable(RuntimeError):
    """Autobahn|Testsuite cannot run here (no Python 2.7, or its installation failed)."""


# -- installation -----------------------------------------------------------------------------


def _is_python27(executable: str) -> bool:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print(sys.version_info[:2] == (2, 7))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "True"


def find_python27() -> str | None:
    """A Python 2.7: $WEBSOCK_PYTHON27, pyenv's 2.7.18, or python2.7 on PATH."""
    candidates: list[str] = []
    if os.environ.get(PYTHON27_ENV):
        candidates.append(os.environ[PYTHON27_ENV])
    pyenv_roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
            pyenv_roots.insert(0, out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    for root in pyenv_roots:
        if root:
            candidates.append(str(Path(root) / "versions" / "2.7.18" / "bin" / "python"))
    on_path = shutil.which("python2.7")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if Path(candidate).exists() and _is_python27(candidate):
            return candidate
    return None


def _installed_marker() -> Path:
    return AUTOBAHN_DIR / "installed.txt"


def is_installed() -> bool:
    marker = _installed_marker()
    return (
        WSTEST.exists() and marker.exists() and marker.read_text().strip() == AUTOBAHN_REQUIREMENT
    )


def ensure_installed(python27: str | None = None, *, quiet: bool = False) -> str:
    """Install Autobahn|Testsuite into .autobahn/site unless it is there; return python2.7."""
    python27 = python27 or find_python27()
    if python27 is None:
        raise AutobahnUnavailable(
            "Autobahn|Testsuite needs Python 2.7 (pyenv's 2.7.18, python2.7 on PATH, "
            f"or ${PYTHON27_ENV}); none was found"
        )
    if is_installed():
        if not quiet:
            print(f"Autobahn|Testsuite already installed in {SITE}")
        return python27
    AUTOBAHN_DIR.mkdir(parents=True, exist_ok=True)
    # Install beside the final place and rename, so an interrupted install never looks done.
    staging = AUTOBAHN_DIR / f"site.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    log_path = AUTOBAHN_DIR / "install.log"
    print(f"installing {AUTOBAHN_REQUIREMENT} with {python27} into {SITE} (log: {log_path})")
    with log_path.open("w") as log:
        code = subprocess.call(
            [python27, "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir",
             "--target", str(staging), AUTOBAHN_REQUIREMENT],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    if code != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise AutobahnUnavailable(f"installing Autobahn|Testsuite failed ({code}):\n{tail}")
    # zope is a namespace package whose .pth file `pip --target` does not process; an
    # __init__.py makes `import zope.interface` work from a plain PYTHONPATH entry.
    (staging / "zope" / "__init__.py").touch()
    shutil.rmtree(SITE, ignore_errors=True)
    staging.rename(SITE)
    version = subprocess.run(
        [python27, str(WSTEST), "--autobahnversion"],
        env=_wstest_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if version.returncode != 0:
        raise AutobahnUnavailable(f"wstest does not start:\n{version.stdout}{version.stderr}")
    _installed_marker().write_text(AUTOBAHN_REQUIREMENT + "\n")
    print(version.stdout.strip())
    return python27


def _wstest_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SITE)
    env.pop("PYTHONHOME", None)
    return env


# -- results ----------------------------------------------------------------------------------


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key: "9.10.2" after "9.2.1"."""
    return tuple(int(part) for part in case_id.split("."))


@dataclass(frozen=True)
class CaseResult:
    id: str
    behavior: str
    behavior_close: str
    duration_ms: int | None
    remote_close_code: int | None
    report_file: Path | None

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def passed(self) -> bool:
        return self.behavior in PASSING and self.behavior_close in PASSING

    def details(self) -> dict[str, object]:
        """The case's own report: description, expectation, result, resultClose..."""
        if self.report_file is None or not self.report_file.exists():
            return {}
        data = json.loads(self.report_file.read_text())
        return data if isinstance(data, dict) else {}


@dataclass
class SuiteResult:
    agent: str
    outdir: Path
    cases: list[CaseResult]
    selection: list[str] = field(default_factory=lambda: ["*"])
    excluded: list[str] = field(default_factory=list)
    seconds: float | None = None
    #: What was run, for humans ("websock serve, pure Python"); the agent name by default.
    title: str = ""

    @property
    def failures(self) -> list[CaseResult]:
        return [case for case in self.cases if not case.passed]

    def summary_table(self) -> str:
        return summary_table(self.cases)

    def failure_report(self, limit: int = 60) -> str:
        lines: list[str] = []
        for case in self.failures[:limit]:
            details = case.details()
            lines.append(
                f"case {case.id}: behavior={case.behavior} behaviorClose={case.behavior_close}"
                f" remoteCloseCode={case.remote_close_code}"
            )
            for key in ("description", "expectation", "result", "resultClose"):
                value = " ".join(str(details.get(key, "")).split())
                if value:
                    lines.append(f"    {key}: {value[:400]}")
        if len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more failing cases")
        return "\n".join(lines)

    def check(self) -> None:
        """Raise AssertionError unless every case passed (and at least one case ran)."""
        if not self.cases:
            raise AssertionError(f"Autobahn ran no case for {self.agent} (see {self.outdir})")
        if self.failures:
            raise AssertionError(
                f"{len(self.failures)} of {len(self.cases)} Autobahn cases failed for "
                f"{self.agent}:\n{self.summary_table()}\n\n{self.failure_report()}\n"
                f"(reports: {self.outdir})"
            )


def load_results(outdir: Path, agent: str | None = None) -> SuiteResult:
    """Read wstest's index.json in ``outdir`` (for ``agent``, or its only agent)."""
    index = json.loads((outdir / "index.json").read_text())
    if agent is None:
        if len(index) != 1:
            raise ValueError(f"{outdir}/index.json has agents {sorted(index)}; name one")
        agent = next(iter(index))
    if agent not in index:
        raise ValueError(f"{outdir}/index.json has no agent {agent!r} (has {sorted(index)})")
    cases = [
        CaseResult(
            id=case_id,
            behavior=str(entry.get("behavior")),
            behavior_close=str(entry.get("behaviorClose")),
            duration_ms=entry.get("duration"),
            remote_close_code=entry.get("remoteCloseCode"),
            report_file=outdir / entry["reportfile"] if entry.get("reportfile") else None,
        )
        for case_id, entry in index[agent].items()
    ]
    cases.sort(key=lambda case: case_key(case.id))
    result = SuiteResult(agent=agent, outdir=outdir, cases=cases, title=agent)
    meta_path = outdir / "meta.json"
    if meta_path.exists():
        # Written by run_suite: what was run and how long it took.
        meta = json.loads(meta_path.read_text())
        result.title = str(meta.get("title", agent))
        result.selection = list(meta.get("selection", ["*"]))
        result.excluded = list(meta.get("excluded", []))
        result.seconds = meta.get("seconds")
    return result


def summary_table(cases: Sequence[CaseResult]) -> str:
    """A Markdown table: per group, the number of cases per verdict (behavior / close)."""
    groups: dict[str, list[CaseResult]] = {}
    for case in sorted(cases, key=lambda case: case_key(case.id)):
        groups.setdefault(case.group, []).append(case)
    header = ["group", "title", "cases", "passed", *VERDICTS, "close not OK/INFO"]
    rows = [header, ["---"] * len(header)]

    def row(name: str, title: str, members: Sequence[CaseResult]) -> list[str]:
        counts = [sum(1 for case in members if case.behavior == verdict) for verdict in VERDICTS]
        bad_close = sum(1 for case in members if case.behavior_close not in PASSING)
        passed = sum(1 for case in members if case.passed)
        return [name, title, str(len(members)), str(passed), *map(str, counts), str(bad_close)]

    for name, members in groups.items():
        rows.append(row(f"{name}.*", GROUP_TITLES.get(name, ""), members))
    rows.append(row("**all**", "", cases))
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


# -- running ----------------------------------------------------------------------------------


def selected_cases(
    cases: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """The case patterns to run: arguments first, then the environment, then everything."""

    def split(value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    chosen = list(cases) if cases is not None else split(os.environ.get(CASES_ENV, "")) or ["*"]
    skipped = list(exclude) if exclude is not None else split(os.environ.get(EXCLUDE_ENV, ""))
    return chosen, skipped


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({process.returncode}) before listening:\n{_tail(log)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"the server did not listen on {port} within {timeout}s:\n{_tail(log)}"
            )
        # Readiness polling with a deadline: a server command line gives no other signal.
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_server(
    command: Sequence[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (listening on ``port``), wait until it accepts; stop it afterwards."""
    full_env = dict(os.environ)
    # The repository root first, so that `module:app` names like tests.conformance.echo_app
    # resolve in the server process whatever its own sys.path handling is.
    full_env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(ROOT), str(ROOT / "src"), full_env.get("PYTHONPATH", "")) if part
    )
    full_env.update(env or {})
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_listening(port, process, ready_timeout, log)
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            # The whole session: a server with worker processes leaves none behind.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(grace)


def run_suite(
    server_command: Sequence[str],
    *,
    agent: str = "websock",
    cases: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    outdir: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    python27: str | None = None,
    title: str | None = None,
) -> SuiteResult:
    """Serve ``server_command`` on a free port and run Autobahn's fuzzing client against it.

    ``{port}`` and ``{python}`` in the command are replaced. ``timeout`` bounds wstest (by
    default one hour for all cases, ten minutes for a selection). Raises AutobahnUnavailable
    when there is no Python 2.7; the caller decides whether that is a skip.
    """
    python27 = ensure_installed(python27, quiet=True)
    chosen, skipped = selected_cases(cases, exclude)
    outdir = outdir or REPORTS / "autobahn" / agent
    if timeout is None:
        timeout = 3600.0 if chosen == ["*"] else 600.0
    with _exclusive(outdir, timeout):
        return _run_locked(
            server_command, agent, chosen, skipped, outdir, env, timeout, python27, title
        )


@contextmanager
def _exclusive(outdir: Path, timeout: float) -> Iterator[None]:
    """One run per report folder at a time: developers share a work tree, and a second run
    would wipe the first one's reports while wstest writes them."""
    outdir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = outdir.parent / f".{outdir.name}.lock"
    deadline = time.monotonic() + timeout
    with lock_path.open("w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    message = f"another Autobahn run kept {outdir} for {timeout}s"
                    raise AssertionError(message) from None
                time.sleep(1.0)  # another run owns the folder; it ends on its own
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_locked(
    server_command: Sequence[str],
    agent: str,
    chosen: list[str],
    skipped: list[str],
    outdir: Path,
    env: Mapping[str, str] | None,
    timeout: float,
    python27: str,
    title: str | None,
) -> SuiteResult:
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    port = free_port()
    command = [part.format(port=port, python=sys.executable) for part in server_command]
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}"}],
        "cases": chosen,
        "exclude-cases": skipped,
        "exclude-agent-cases": {},
    }
    spec_path = outdir / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    wstest_log = outdir / "wstest.log"
    started = time.monotonic()
    server_log = outdir / "server.log"
    with running_server(command, port=port, log=server_log, env=env), wstest_log.open("wb") as log:
        try:
            code = subprocess.call(
                [python27, str(WSTEST), "-m", "fuzzingclient", "-s", str(spec_path)],
                cwd=outdir,
                env=_wstest_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"wstest did not finish within {timeout:.0f}s:\n{_tail(wstest_log)}"
            ) from None
    seconds = time.monotonic() - started
    if code != 0 or not (outdir / "index.json").exists():
        raise AssertionError(f"wstest failed ({code}):\n{_tail(wstest_log)}")
    result = load_results(outdir, agent)
    result.selection, result.excluded, result.seconds = chosen, skipped, seconds
    result.title = title or agent
    meta = {"title": result.title, "selection": chosen, "excluded": skipped, "seconds": seconds}
    (outdir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (outdir / "summary.md").write_text(result.summary_table() + "\n")
    return result


# -- the docs page ----------------------------------------------------------------------------

DOC_INTRO = """\
# Conformance: Autobahn|Testsuite

websock's built-in server runs the whole Autobahn|Testsuite fuzzing client in CI: all 517
cases against `tests/conformance/echo_app.py` (an echo handler with permessage-deflate on
and limits raised to 16 MiB), served by `websock serve`. A case passes only when both its
behavior and its close behavior are OK or INFORMATIONAL; NON-STRICT, UNIMPLEMENTED and
FAILED fail the build.

CI runs it twice (`tests/conformance/test_autobahn.py`): as installed (the C accelerator
`websock.protocol._speedups`, uvloop, httptools) on all 517 cases, and with
`WEBSOCK_NO_EXTENSIONS=1` (pure-Python framing, asyncio's own loop, the pure-Python HTTP
parser) on `1.*` to `10.*`, `12.1.*` and `13.1.*` (337 cases, about 2 minutes): the long
compression groups mostly measure wstest's own deflate speed and run the same zlib code in
both modes. `WEBSOCK_AUTOBAHN_PURE_CASES='*'` makes the pure run play everything too. The
tables below come from `.ci/run` in a fresh clone (wall-clock durations, on a 2-core machine
shared with other work).

Run it yourself (needs a Python 2.7, e.g. pyenv's 2.7.18; the runner installs wstest into
`.autobahn/`):

```sh
python3 dev.py test tests/conformance                            # everything, as CI does
WEBSOCK_AUTOBAHN_CASES='1.*,2.*,7.*' python3 dev.py test --no-lint tests/conformance
python tests/conformance/autobahn_suite.py summarize --write docs/conformance.md   # this page
```

Reports (per-case JSON and HTML) land in `reports/autobahn/<agent>/`. `python3 dev.py test
-m "not slow"` leaves the long runs out.

The runner serves any command line, so hosts use it too (`{port}` and `{python}` are filled in):

```python
from tests.conformance.autobahn_suite import run_suite

result = run_suite(["{python}", "-m", "uvicorn", "my.module:asgi_app", "--port", "{port}"],
                   agent="uvicorn")
result.check()   # AssertionError with the table below and every failing case
```

```sh
python tests/conformance/autobahn_suite.py run --agent NAME --cases '1.*' -- CMD ... {port}
```
"""


def render_doc(results: Sequence[SuiteResult]) -> str:
    parts = [DOC_INTRO]
    for result in results:
        passed = len(result.cases) - len(result.failures)
        parts.append(f"\n## {result.title}\n\n")
        duration = f" in {result.seconds:.0f} s" if result.seconds else ""
        selection = ", ".join(result.selection)
        if result.excluded:
            selection += f" except {', '.join(result.excluded)}"
        index = result.outdir / "index.json"
        when = time.strftime("%Y-%m-%d", time.gmtime(index.stat().st_mtime))
        parts.append(
            f"{passed} of {len(result.cases)} cases passed{duration} on {when} "
            f"(agent `{result.agent}`, cases `{selection}`).\n\n"
        )
        parts.append(result.summary_table() + "\n")
        if result.failures:
            parts.append("\nFailing cases:\n")
            parts.extend(
                f"- {case.id}: {case.behavior} / close {case.behavior_close}\n"
                for case in result.failures
            )
    return "".join(parts)


# -- command line -----------------------------------------------------------------------------


def _cli(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install Autobahn|Testsuite into .autobahn/")
    install.add_argument("--quiet-if-installed", action="store_true")
    run = sub.add_parser("run", help="run the fuzzing client against a server command")
    run.add_argument("--agent", default="websock")
    run.add_argument("--cases", help=f"comma-separated patterns (default: ${CASES_ENV} or *)")
    run.add_argument("--exclude", help="comma-separated patterns to leave out")
    run.add_argument("--outdir", type=Path)
    run.add_argument("--title", help="what is run, for the summary")
    run.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="server environment"
    )
    run.add_argument("server", nargs="+", help="server command; {port} and {python} replaced")
    summarize = sub.add_parser("summarize", help="summary tables from reports (index.json)")
    summarize.add_argument(
        "outdirs", nargs="*", type=Path, help="report folders (default: reports/autobahn/*)"
    )
    summarize.add_argument("--write", type=Path, help="write the Markdown page here")
    args = parser.parse_args(argv)

    if args.command == "install":
        try:
            ensure_installed(quiet=args.quiet_if_installed)
        except AutobahnUnavailable as exc:
            print(exc, file=sys.stderr)
            return 3
        return 0
    if args.command == "run":
        result = run_suite(
            args.server,
            agent=args.agent,
            cases=args.cases.split(",") if args.cases else None,
            exclude=args.exclude.split(",") if args.exclude else None,
            outdir=args.outdir,
            title=args.title,
            env=dict(item.split("=", 1) for item in args.env),
        )
        print(result.summary_table())
        if result.failures:
            print(result.failure_report())
            return 1
        return 0
    outdirs = args.outdirs or sorted(
        path.parent for path in (REPORTS / "autobahn").glob("*/index.json")
    )
    results = [load_results(path) for path in outdirs]
    page = render_doc(results)
    if args.write:
        args.write.write_text(page)
        print(f"wrote {args.write}")
    else:
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
