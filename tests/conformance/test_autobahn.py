"""Autobahn|Testsuite against the built-in server, and tests of the runner itself.

The conformance run serves tests/conformance/echo_app.py with ``websock serve`` and plays
all 517 cases (``WEBSOCK_AUTOBAHN_CASES`` narrows it for quick local runs). When an
accelerator is installed (uvloop, httptools, a compiled websock extension), the suite runs
twice: as installed, and with ``WEBSOCK_NO_EXTENSIONS=1`` (pure Python).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.autobahn_suite import (
    CASES_ENV,
    REPORTS,
    AutobahnUnavailable,
    CaseResult,
    SuiteResult,
    run_suite,
)

HERE = Path(__file__).resolve().parent
WEBSOCKETS_ECHO = str(HERE / "websockets_echo.py")
WEBSOCK_SERVE = ["{python}", "-m", "websock", "serve", "tests.conformance.echo_app:app",
                 "--host", "127.0.0.1", "--port", "{port}"]  # fmt: skip

#: Compiled modules that WEBSOCK_NO_EXTENSIONS=1 switches off.
ACCELERATORS = ("uvloop", "httptools", "websock.protocol._speedups")

#: The pure-Python run's cases: everything but the long compression groups, which mostly
#: measure wstest's own deflate speed and run the same (zlib) code in both modes; their
#: first subgroups stay in. ~2 minutes instead of ~11 (docs/conformance.md).
PURE_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*", "12.1.*", "13.1.*"]
PURE_CASES_ENV = "WEBSOCK_AUTOBAHN_PURE_CASES"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def accelerated() -> bool:
    return any(_installed(name) for name in ACCELERATORS)


#: "as installed" always; "pure Python" too when there is something to switch off.
MODES = ["installed", "pure"] if accelerated() else ["installed"]


def _run_or_skip(command: list[str], **kwargs: Any) -> SuiteResult:
    try:
        return run_suite(command, **kwargs)
    except AutobahnUnavailable as exc:
        pytest.skip(str(exc))


def _cases_for(mode: str) -> list[str] | None:
    """None: the runner's default (WEBSOCK_AUTOBAHN_CASES, else all)."""
    if mode != "pure" or os.environ.get(CASES_ENV):
        return None
    override = os.environ.get(PURE_CASES_ENV, "")
    return [part.strip() for part in override.split(",") if part.strip()] or PURE_CASES


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("mode", MODES)
def test_builtin_server_passes_every_autobahn_case(mode: str) -> None:
    env = {"WEBSOCK_NO_EXTENSIONS": "1"} if mode == "pure" else {"WEBSOCK_NO_EXTENSIONS": "0"}
    title = "websock serve, pure Python" if mode == "pure" else "websock serve, as installed"
    cases = _cases_for(mode)
    result = _run_or_skip(
        WEBSOCK_SERVE,
        agent=f"websock-{mode}",
        cases=cases,
        env=env,
        title=title,
        outdir=REPORTS / "autobahn" / f"websock-{mode}",
    )
    print(f"{title}: {len(result.cases)} cases in {result.seconds:.0f}s")
    print(result.summary_table())
    if cases is None and os.environ.get(CASES_ENV, "*") in ("", "*"):
        # All of them: Autobahn|Testsuite 25.10.1 has 517 cases.
        assert len(result.cases) == 517
    result.check()


# -- the runner itself, against a reference server -------------------------------------------


@pytest.mark.timeout(600)
def test_runner_judges_each_case_of_a_reference_server() -> None:
    # The websockets library with a 1000-byte message limit: the small echo cases pass, and
    # 1.1.6 (a 65535-byte text message) must fail, since the server closes with 1009.
    result = _run_or_skip(
        ["{python}", WEBSOCKETS_ECHO, "--port", "{port}", "--max-size", "1000"],
        agent="runner-selftest",
        cases=["1.1.1", "1.1.2", "1.1.6", "2.1", "2.3"],
        exclude=[],
        outdir=REPORTS / "autobahn-selftest",
    )
    assert [case.id for case in result.cases] == ["1.1.1", "1.1.2", "1.1.6", "2.1", "2.3"]
    assert [case.id for case in result.failures] == ["1.1.6"]
    failing = result.failures[0]
    assert failing.behavior == "FAILED"
    assert failing.remote_close_code == 1009
    assert "65535" in str(failing.details()["description"])

    with pytest.raises(AssertionError) as raised:
        result.check()
    message = str(raised.value)
    assert "1 of 5 Autobahn cases failed" in message
    assert "case 1.1.6: behavior=FAILED" in message
    assert "| 1.* | Framing | 3 | 2 | 2 | 0 | 0 | 0 | 1 | 1 |" in message

    passing = SuiteResult(result.agent, result.outdir, [c for c in result.cases if c.passed])
    passing.check()


def _case(case_id: str, behavior: str, close: str) -> CaseResult:
    return CaseResult(case_id, behavior, close, 1, 1000, None)


@pytest.mark.parametrize(
    ("behavior", "close", "passed"),
    [
        ("OK", "OK", True),
        ("INFORMATIONAL", "INFORMATIONAL", True),
        ("OK", "INFORMATIONAL", True),
        ("NON-STRICT", "OK", False),
        ("UNIMPLEMENTED", "OK", False),
        ("FAILED", "OK", False),
        ("OK", "FAILED", False),
        ("OK", "WRONG CODE", False),
        ("OK", "UNCLEAN", False),
        ("OK", "NON-STRICT", False),
    ],
)
def test_only_ok_and_informational_pass(behavior: str, close: str, passed: bool) -> None:
    assert _case("5.1", behavior, close).passed is passed


def test_summary_orders_groups_numerically() -> None:
    cases = [_case("12.1.1", "OK", "OK"), _case("9.10.1", "OK", "OK"), _case("9.2.1", "OK", "OK")]
    result = SuiteResult("x", Path("."), cases)
    lines = result.summary_table().splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 9.*", "| 12.*", "| **all**"]
    with pytest.raises(AssertionError, match="ran no case"):
        SuiteResult("x", Path("."), []).check()


def test_summarize_writes_the_docs_page_from_reports(tmp_path: Path) -> None:
    outdir = tmp_path / "websock-installed"
    outdir.mkdir()
    index = {
        "websock-installed": {
            "1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 2,
                      "remoteCloseCode": 1000, "reportfile": "case_1_1_1.json"},
            "6.4.1": {"behavior": "NON-STRICT", "behaviorClose": "OK", "duration": 2003,
                      "remoteCloseCode": 1007, "reportfile": "case_6_4_1.json"},
        }
    }  # fmt: skip
    (outdir / "index.json").write_text(json.dumps(index))
    meta = {"title": "websock serve, as installed", "selection": ["*"], "excluded": [],
            "seconds": 1234.5}  # fmt: skip
    (outdir / "meta.json").write_text(json.dumps(meta))
    page = tmp_path / "conformance.md"
    done = subprocess.run(
        [sys.executable, str(HERE / "autobahn_suite.py"), "summarize", str(outdir),
         "--write", str(page)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "## websock serve, as installed" in text
    assert "1 of 2 cases passed in 1234 s on " in text
    assert "(agent `websock-installed`, cases `*`)" in text
    assert "| 1.* | Framing | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 0 |" in text
    assert "| 6.* | UTF-8 Handling | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0 |" in text
    assert "- 6.4.1: NON-STRICT / close OK" in text
