"""Tests of dev.py, the developer entry point (commands, stamp, exit statuses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dev

DEV = Path(dev.__file__).resolve()


def _dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEV), *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_command() -> None:
    done = _dev("--help")
    assert done.returncode == 0
    for command in dev.COMMANDS:
        assert f"python3 dev.py {command}" in done.stdout


def test_unknown_command_is_an_error() -> None:
    done = _dev("frobnicate")
    assert done.returncode == 2
    assert "unknown command 'frobnicate'" in done.stderr


def test_no_command_prints_usage_and_fails() -> None:
    done = _dev()
    assert done.returncode == 2
    assert "python3 dev.py test" in done.stdout


def test_stamp_changes_with_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\n')
    first = dev._stamp_value()
    assert dev._stamp_value() == first
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\ndependencies = ["x"]\n')
    assert dev._stamp_value() != first


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([("ruff check", 0, 1.0), ("mypy --strict", 0, 1.0), ("pytest", 0, 1.0)], 0),
        ([("ruff check", 0, 1.0), ("mypy --strict", 0, 1.0), ("pytest", 5, 1.0)], 5),
        ([("ruff check", 1, 1.0), ("mypy --strict", 0, 1.0), ("pytest", 0, 1.0)], 1),
        ([("ruff check", 0, 1.0), ("mypy --strict", 2, 1.0), ("pytest", 1, 1.0)], 1),
    ],
)
def test_exit_status_is_the_failing_steps(
    outcomes: list[tuple[str, int, float]], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dev._finish(outcomes) == status
    summary = capsys.readouterr().out
    assert summary.startswith("dev.py: ruff check ")
    assert ("FAILED" in summary) is (status != 0)
