#!/usr/bin/env python3
"""Developer entry point: set-up, checks, tests, demo, benchmarks. Standard library only.

Runs with a bare ``python3`` on a fresh machine that has only Python and git:

    python3 dev.py test [pytest args]   ruff check, mypy --strict, then pytest
    python3 dev.py lint                 ruff check, ruff format --check, mypy --strict
    python3 dev.py fmt                  ruff format + ruff check --fix
    python3 dev.py demo [args]          the chat demo on the built-in server
    python3 dev.py bench [args]         bench/run.py
    python3 dev.py setup                only create/update .venv (and Autobahn)

Every command first brings ``.venv`` up to date: it is created with ``python3 -m venv`` and
``pip install -e '.[dev]'`` runs again only when pyproject.toml, setup.py or a C source
changed (a stamp file records their hash). Autobahn|Testsuite is installed into
``.autobahn/`` when a Python 2.7 is available.
Playwright comes as a Python package only: browser tests drive Debian's ``chromium``, and no
browser is ever downloaded. The exit status is the failing step's (pytest's when only tests
failed), 0 when everything passed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
VENV_PYTHON = VENV_BIN / "python"
STAMP = VENV / ".websock-dev-stamp"
MIN_PYTHON = (3, 11)
AUTOBAHN_RUNNER = ROOT / "tests" / "conformance" / "autobahn_suite.py"

USAGE = __doc__ or ""


# -- output -----------------------------------------------------------------------------------


def _color(code: str, text: str) -> str:
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[{code}m{text}\033[0m"
    return text


def step(title: str) -> None:
    print(_color("1;34", f"==> {title}"), flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def fail(text: str) -> None:
    print(_color("1;31", f"dev.py: {text}"), file=sys.stderr, flush=True)


def run(command: list[str], *, env: dict[str, str] | None = None) -> int:
    """Run a command in the repository root, output straight through; return its status."""
    shown = " ".join(str(part) for part in command)
    note(_color("2", f"$ {shown}"))
    return subprocess.call(command, cwd=ROOT, env=env)


# -- the virtualenv ---------------------------------------------------------------------------


def _python_version(python: Path | str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.strip().split(".")
    return int(major), int(minor)


def _base_python() -> str:
    """A Python ≥ 3.11 to create the venv with: this one, else one found on PATH."""
    if sys.version_info[:2] >= MIN_PYTHON:
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(name)
        if found and (_python_version(found) or (0, 0)) >= MIN_PYTHON:
            return found
    raise SystemExit(
        f"dev.py: websock needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+, "
        f"this is {sys.version.split()[0]} and no newer python3.x is on PATH"
    )


def _stamp_value() -> str:
    # The installed set depends on the project's metadata, the optional C accelerator's
    # sources (an editable install builds it once: a changed .c needs a rebuild) and the
    # interpreter.
    digest = hashlib.sha256()
    for source in (ROOT / "pyproject.toml", ROOT / "setup.py", *sorted(ROOT.glob("src/**/*.c"))):
        if source.exists():
            digest.update(source.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    # Playwright is used with Debian's chromium only; never fetch a browser build.
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


def ensure_venv() -> None:
    usable = VENV_PYTHON.exists() and (_python_version(VENV_PYTHON) or (0, 0)) >= MIN_PYTHON
    if not usable:
        step(f"creating {VENV.name} ({sys.version.split()[0]})")
        if VENV.exists():
            shutil.rmtree(VENV)
        code = run([_base_python(), "-m", "venv", str(VENV)])
        if code != 0:
            raise SystemExit(
                "dev.py: could not create the virtualenv (on Debian/Ubuntu the system python "
                "needs: apt-get install -y python3-venv)"
            )
    expected = _stamp_value()
    if STAMP.exists() and STAMP.read_text().strip() == expected:
        return
    step("installing websock and its development tools into .venv (pip install -e '.[dev]')")
    # pip's output goes to a log (machine-level index warnings drown the rest otherwise),
    # shown when the install fails.
    log_path = VENV / "pip-install.log"
    command = [str(VENV_PYTHON), "-m", "pip", "install", "-e", ".[dev]"]
    note(_color("2", f"$ {' '.join(command)}  (log: {log_path.relative_to(ROOT)})"))
    started = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.call(
            command, cwd=ROOT, env=_venv_env(), stdout=log, stderr=subprocess.STDOUT
        )
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"dev.py: pip install -e '.[dev]' failed ({code}); log: {log_path}")
    note(f"installed in {time.monotonic() - started:.0f}s")
    STAMP.write_text(expected + "\n")


def ensure_autobahn() -> None:
    """Install Autobahn|Testsuite into .autobahn/ when a Python 2.7 exists (cached)."""
    if not AUTOBAHN_RUNNER.exists():
        return
    code = subprocess.call(
        [str(VENV_PYTHON), str(AUTOBAHN_RUNNER), "install", "--quiet-if-installed"],
        cwd=ROOT,
        env=_venv_env(),
    )
    if code != 0:
        # Not fatal here: the conformance test reports it (and fails under WEBSOCK_REQUIRE_ALL).
        note("Autobahn|Testsuite is not available; its conformance test will say why")


def setup(*, autobahn: bool = False) -> None:
    ensure_venv()
    if autobahn:
        ensure_autobahn()


# -- commands ---------------------------------------------------------------------------------


def _checks(*, format_check: bool) -> list[tuple[str, list[str]]]:
    bin_ = str(VENV_BIN)
    checks = [("ruff check", [f"{bin_}/ruff", "check", "."])]
    if format_check:
        checks.append(("ruff format --check", [f"{bin_}/ruff", "format", "--check", "."]))
    # Files and strictness come from [tool.mypy] in pyproject.toml (src, tests, dev.py).
    checks.append(("mypy --strict", [f"{bin_}/mypy", "--strict"]))
    return checks


def _run_steps(steps: list[tuple[str, list[str]]]) -> list[tuple[str, int, float]]:
    env = _venv_env()
    outcomes = []
    for title, command in steps:
        step(title)
        started = time.monotonic()
        code = run(command, env=env)
        outcomes.append((title, code, time.monotonic() - started))
    return outcomes


def _finish(outcomes: list[tuple[str, int, float]]) -> int:
    parts = [
        f"{title} {'ok' if code == 0 else f'FAILED ({code})'} ({seconds:.0f}s)"
        for title, code, seconds in outcomes
    ]
    failed = [(title, code) for title, code, _ in outcomes if code != 0]
    print(_color("1;31" if failed else "1;32", "dev.py: " + "; ".join(parts)), flush=True)
    if not failed:
        return 0
    # pytest's own status (1 failures, 2 interrupted, 5 no tests...) when it is what failed.
    return failed[-1][1] if failed[-1][0] == "pytest" else max(1, failed[0][1])


def cmd_test(args: list[str]) -> int:
    skip_lint = "--no-lint" in args
    args = [arg for arg in args if arg != "--no-lint"]
    setup(autobahn=True)
    steps = [] if skip_lint else _checks(format_check=False)
    steps.append(("pytest", [str(VENV_PYTHON), "-m", "pytest", *args]))
    return _finish(_run_steps(steps))


def cmd_lint(args: list[str]) -> int:
    setup()
    return _finish(_run_steps(_checks(format_check=True)))


def cmd_fmt(args: list[str]) -> int:
    setup()
    bin_ = str(VENV_BIN)
    return _finish(
        _run_steps(
            [
                ("ruff format", [f"{bin_}/ruff", "format", "."]),
                ("ruff check --fix", [f"{bin_}/ruff", "check", "--fix", "."]),
            ]
        )
    )


def cmd_demo(args: list[str]) -> int:
    setup()
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('websock.__main__') is None)"
    if subprocess.call([str(VENV_PYTHON), "-c", probe], cwd=ROOT, env=_venv_env()) != 0:
        fail("the demo needs websock's command line (python -m websock), which does not exist yet")
        return 2
    step("python -m websock demo " + " ".join(args))
    try:
        return subprocess.call([str(VENV_PYTHON), "-m", "websock", "demo", *args], cwd=ROOT)
    except KeyboardInterrupt:
        return 130


def cmd_bench(args: list[str]) -> int:
    setup()
    script = ROOT / "bench" / "run.py"
    if not script.exists():
        fail("there are no benchmarks yet (bench/run.py does not exist)")
        return 2
    return _finish(_run_steps([("bench/run.py", [str(VENV_PYTHON), str(script), *args])]))


def cmd_setup(args: list[str]) -> int:
    setup(autobahn=True)
    print(_color("1;32", f"dev.py: {VENV.name} is ready ({VENV_PYTHON})"))
    return 0


COMMANDS = {
    "test": cmd_test,
    "lint": cmd_lint,
    "fmt": cmd_fmt,
    "demo": cmd_demo,
    "bench": cmd_bench,
    "setup": cmd_setup,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        fail(f"unknown command {argv[0]!r}; one of: {', '.join(COMMANDS)}")
        return 2
    os.chdir(ROOT)
    try:
        return command(argv[1:])
    except KeyboardInterrupt:
        fail("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
