"""An out-of-band channel from the server's handler back to the test.

The contract app reports each connection's ending (``terminate``'s reason) as one JSON
line over a plain TCP connection to the recorder, whose address travels in the query
string (``rec=PORT``). One mechanism serves every host: in the test's process, in a
server thread, or in a subprocess (daphne, granian). Blocking sockets on the reporting
side keep it independent of the host's event loop, and a report is a single short write
on loopback.
"""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import threading
from typing import Any

__all__ = ["Recorder", "report"]


def report(port: int, record: dict[str, Any]) -> None:
    """Send ``record`` to the recorder listening on ``127.0.0.1:port``."""
    line = (json.dumps(record) + "\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(line)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            for line in self.rfile:
                self.server.recorder.add(json.loads(line))
        except OSError:  # the reporting server died mid-report: nothing to record
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    recorder: Recorder


class Recorder:
    """Collects reports by connection id; ``await wait(id)`` returns one when it arrives."""

    def __init__(self) -> None:
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._cond = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.recorder = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="websock-recorder", daemon=True
        )
        self._thread.start()

    def add(self, record: dict[str, Any]) -> None:
        with self._cond:
            self._records.setdefault(str(record["id"]), []).append(record)
            self._cond.notify_all()

    def records(self, conn_id: str) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._records.get(conn_id, ()))

    def _wait(self, conn_id: str, timeout: float) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: conn_id in self._records, timeout):
                raise TimeoutError(f"no report for connection {conn_id} within {timeout}s")
            return self._records[conn_id][0]

    async def wait(self, conn_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The first report for ``conn_id`` (its terminate), waiting up to ``timeout``."""
        return await asyncio.to_thread(self._wait, conn_id, timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
