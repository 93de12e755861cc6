"""Every protocol test runs once per implementation of the hot loops (C and Python)."""

from __future__ import annotations

from tests.implementations import implementation

__all__ = ["implementation"]
