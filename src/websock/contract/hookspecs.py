"""The hook a conftest implements to choose the hosts the contract suite runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .hosts import HostSpec


@pytest.hookspec(firstresult=True)
def pytest_websock_hosts(config: pytest.Config) -> list[HostSpec] | None:
    """Return the hosts to run the suite on (default: every host in ``hosts.HOSTS``)."""
    raise NotImplementedError
