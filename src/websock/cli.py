"""``websock serve module:app`` and ``websock demo`` (also ``python -m websock ...``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .exceptions import HandlerError
from .results import check_close
from .server._busy_poll import check_busy_poll
from .server._limits import HttpLimits

__all__ = ["load_app", "main"]

logger = logging.getLogger("websock.server")

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (dots allowed in both, like uvicorn) from the cwd."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit(f"websock: app must be given as module:attribute, not {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SystemExit(f"websock: cannot import module {module_name!r}: {exc}") from None
        raise
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SystemExit(f"websock: module {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise SystemExit(f"websock: {spec} is not callable; an app is async def app(request)")
    return target


def _find_demo() -> Path:
    # The chat example lives in the source tree (examples/chat), not in the wheel.
    candidates = [Path.cwd() / "examples" / "chat" / "app.py"]
    candidates.append(Path(__file__).resolve().parents[2] / "examples" / "chat" / "app.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit("websock: the chat demo needs a source checkout (examples/chat/app.py)")


def _load_demo() -> Any:
    path = _find_demo()
    spec = importlib.util.spec_from_file_location("websock_demo_chat", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websock",
        description="The websock built-in server: serve an app (module:app), or the chat demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a websock app (module:app)")
    serve.add_argument("app", help="the app to serve, as module:attribute")
    _common(serve)
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--certfile", help="TLS certificate chain (PEM): serve wss://")
    serve.add_argument("--keyfile", help="TLS private key (PEM), if not in --certfile")
    serve.add_argument(
        "--shutdown-code", type=int, default=1001, help="close code sent on shutdown"
    )
    serve.add_argument(
        "--handshake-timeout",
        type=float,
        default=HttpLimits().handshake_timeout,
        help="seconds a client has to send its whole request (slowloris guard)",
    )
    serve.add_argument("--http-parser", choices=("auto", "httptools", "python"), default="auto")
    serve.add_argument(
        "--busy-poll",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after a read, poll this long instead of sleeping (e.g. 0.0001): lower latency "
        "for chatty connections, paid in CPU; 0 (the default) is off",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    demo = commands.add_parser("demo", help="run the chat demo and print its URL")
    _common(demo)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", choices=_LOG_LEVELS, default="info")
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for close handshakes on SIGTERM/SIGINT",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    from .server._run import run

    if args.command == "demo":
        app = _load_demo()
        return run(
            app,
            host=args.host,
            port=args.port,
            shutdown_timeout=args.shutdown_timeout,
            use_uvloop=not args.no_uvloop,
            banner="websock chat demo: open {http_url}/ in two browser tabs",
        )
    if args.workers < 1:
        raise SystemExit("websock: --workers must be at least 1")
    if args.keyfile and not args.certfile:
        raise SystemExit("websock: --keyfile needs --certfile")
    try:
        check_close(args.shutdown_code, "")
    except HandlerError as exc:
        raise SystemExit(f"websock: --shutdown-code: {exc}") from None
    try:
        check_busy_poll(args.busy_poll)
    except ValueError as exc:
        raise SystemExit(f"websock: --busy-poll: {exc}") from None
    if args.workers > 1:
        from .server._workers import supervise

        return supervise(list(sys.argv[1:] if argv is None else argv), args)
    app = load_app(args.app)
    return run(
        app,
        host=args.host,
        port=args.port,
        certfile=args.certfile,
        keyfile=args.keyfile,
        shutdown_code=args.shutdown_code,
        shutdown_timeout=args.shutdown_timeout,
        limits=HttpLimits(handshake_timeout=args.handshake_timeout),
        http_parser=args.http_parser,
        reuse_port=args.reuse_port,
        busy_poll=args.busy_poll,
        use_uvloop=not args.no_uvloop,
    )
