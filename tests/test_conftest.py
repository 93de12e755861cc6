"""Tests of the shared fixtures and of the strict mode in tests/conftest.py."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

if TYPE_CHECKING:
    from tests.conftest import RedisServer

REQUIRE_ALL_ENV = "WEBSOCK_REQUIRE_ALL"

CONFTEST = Path(__file__).with_name("conftest.py").read_text()

SKIPPING_TESTS = """
import pytest

@pytest.fixture
def missing_thing():
    pytest.skip("thing is not installed")

def test_skips_in_body():
    pytest.skip("body says no")

def test_skips_in_fixture(missing_thing):
    pass

@pytest.mark.skipif(True, reason="marker says no")
def test_skip_marker():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_xfail():
    assert False

def test_imperative_xfail():
    pytest.xfail("not yet")

def test_passes():
    pass
"""

IMPORTORSKIP_MODULE = """
import pytest
pytest.importorskip("module_that_does_not_exist_anywhere")

def test_never_runs():
    pass
"""


def _run_inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_skipping=SKIPPING_TESTS, test_importorskip=IMPORTORSKIP_MODULE)
    if strict:
        monkeypatch.setenv(REQUIRE_ALL_ENV, "1")
    else:
        monkeypatch.delenv(REQUIRE_ALL_ENV, raising=False)
    return pytester.runpytest_subprocess(
        "-rA", "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )


def test_without_require_all_skips_stay_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, strict=False)
    result.assert_outcomes(passed=1, skipped=4, xfailed=2)


def test_require_all_turns_every_skip_into_a_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, strict=True)
    # Skips in setup (markers, fixtures) and at collection (importorskip) become errors, a skip
    # in the test body a failure; xfail stays xfail.
    result.assert_outcomes(passed=1, failed=1, xfailed=2, errors=3)
    output = result.stdout.str()
    for reason in ("body says no", "thing is not installed", "marker says no"):
        assert reason in output
    assert output.count(f"{REQUIRE_ALL_ENV}=1 forbids skipping") >= 4
    assert "module_that_does_not_exist_anywhere" in output
    assert result.ret != 0


def test_free_ports_are_distinct_and_bindable(free_port_factory: Callable[[], int]) -> None:
    ports = [free_port_factory() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_redis_server_is_real_and_empty(redis_server: RedisServer) -> None:
    assert redis_server == f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(redis_server, socket_timeout=5)
    try:
        assert client.ping() is True
        assert client.dbsize() == 0
        client.set("websock-test", "1")
        assert client.get("websock-test") == b"1"
    finally:
        client.close()


def test_redis_server_is_emptied_between_tests(redis_server: RedisServer) -> None:
    # Runs after test_redis_server_is_real_and_empty left a key behind.
    client = redis.Redis.from_url(redis_server, socket_timeout=5)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_redis_server_kill_and_restart(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server, socket_timeout=5, socket_connect_timeout=5)
    try:
        assert client.ping() is True
        redis_server.kill()
        assert not redis_server.running
        assert not redis_server.ping()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        redis_server.restart()
        assert redis_server.running
        # Same URL, so the same client reconnects.
        assert client.ping() is True
    finally:
        client.close()


def test_redis_server_left_dead_is_started_for_the_next_test(
    _redis_session: RedisServer,
) -> None:
    _redis_session.kill()
    assert not _redis_session.running


def test_redis_server_comes_back_after_a_test_left_it_dead(redis_server: RedisServer) -> None:
    assert redis_server.running
    assert redis_server.ping()
