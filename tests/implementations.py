"""Run a test module once per implementation of the hot loops: the C accelerator
(``_speedups``) and its pure-Python twins (``_pure``), chosen through ``_accel.use``.

A conftest or test module imports ``implementation`` (an autouse fixture). With
WEBSOCK_NO_EXTENSIONS=1 only the pure-Python run exists (that is what the variable asks
for). Otherwise a missing C build is a skip with its reason, which CI's
WEBSOCK_REQUIRE_ALL=1 turns into a failure: CI builds the extension.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from websock.protocol import _accel

IMPLEMENTATIONS = ["python"] if os.environ.get("WEBSOCK_NO_EXTENSIONS") == "1" else ["c", "python"]


# Module scope: hypothesis tests refuse function-scoped fixtures, and switching once per
# module is enough (use() switches every caller at once).
@pytest.fixture(autouse=True, scope="module", params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    name: _accel.Implementation = request.param
    if name not in _accel.available():
        pytest.skip("the C accelerator is not built (`pip install -e .` builds it with gcc)")
    previous = _accel.use(name)
    try:
        yield name
    finally:
        _accel.use(previous)
