"""The public surface: exactly SPEC's names (plus documented extras), and `import websock`
stays light (no asyncio, no host library)."""

from __future__ import annotations

import subprocess
import sys

import websock

SPEC_NAMES = {
    "Handler",
    "Text",
    "Binary",
    "Ping",
    "Pong",
    "Push",
    "Ok",
    "Stop",
    "Normal",
    "Remote",
    "Shutdown",
    "Timeout",
    "Error",
    "upgrade",
    "Upgrade",
    "Response",
    "Request",
    "Headers",
    "UpgradeError",
    "connection",
    "serve",
    "PubSub",
    "testing",
}
EXTRAS = {
    "WebSockError",
    "ProtocolError",
    "HandlerError",
    "ConnectionClosed",
    "MailboxFull",
    "Options",
    "ConnectionHandle",
}


def test_all_is_the_spec_names_plus_documented_extras() -> None:
    assert set(websock.__all__) == SPEC_NAMES | EXTRAS
    assert len(websock.__all__) == len(set(websock.__all__))


def test_every_exported_name_resolves() -> None:
    for name in sorted(websock.__all__):
        assert getattr(websock, name) is not None, name


def test_upgrade_is_the_function_even_after_importing_the_submodule() -> None:
    import websock.upgrade as _  # noqa: F401

    assert callable(websock.upgrade)
    assert websock.upgrade.__name__ == "upgrade"


def test_connection_and_testing_are_the_runtime_ones() -> None:
    from websock.runtime.context import connection

    assert websock.connection is connection
    assert websock.testing.TestClient.__name__ == "TestClient"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        websock.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_websock_imports_no_host_library_and_no_asyncio() -> None:
    hosts = [
        "uvicorn",
        "aiohttp",
        "websockets",
        "starlette",
        "fastapi",
        "redis",
        "hypercorn",
        "daphne",
        "granian",
        "httptools",
        "uvloop",
        "asyncio",
    ]
    code = (
        "import sys, websock, websock.protocol; "
        f"print(','.join(m for m in {hosts!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""
