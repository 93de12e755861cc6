"""pytest plugin: run the websock contract suite against any set of hosts.

Use it in a ``conftest.py``::

    pytest_plugins = ["websock.contract.plugin"]

    def pytest_websock_hosts(config):          # optional: defaults to every built-in host
        return [HostSpec("myserver", start_my_server, capabilities={...})]

and collect the suite in a test module: ``from websock.contract.suite import *``.

Options: ``--websock-hosts=a,b`` runs only those hosts; ``--websock-capability-table=PATH``
writes the observed host x feature table into PATH (between the table markers).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hookspecs
from .capabilities import FEATURES
from .hosts import HOSTS, HostSpec, Running
from .recorder import Recorder

__all__ = ["Contract"]

_OBSERVED = pytest.StashKey[dict[str, dict[str, Any]]]()
_OUTCOMES = pytest.StashKey[dict[str, list[int]]]()
START_MARK = "<!-- capability-table:start -->"
END_MARK = "<!-- capability-table:end -->"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("websock-contract")
    group.addoption("--websock-hosts", default=None, help="comma-separated host names to run")
    group.addoption(
        "--websock-capability-table",
        default=None,
        help="write the observed capability table into this markdown file",
    )


#: Warnings that hosts raise about their *own* dependencies, in their own threads, per
#: connection (uvicorn's deprecated "websockets" implementation drives websockets.legacy).
#: They are the hosts' business, not failures of the contract.
HOST_WARNINGS = (
    "ignore:remove second argument of ws_handler:DeprecationWarning",
    "ignore:websockets.legacy is deprecated:DeprecationWarning",
    "ignore:websockets.server.WebSocketServerProtocol is deprecated:DeprecationWarning",
    "ignore:The `websockets` implementation is deprecated:UserWarning",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in HOST_WARNINGS:
        config.addinivalue_line("filterwarnings", line)
    config.stash[_OBSERVED] = {}
    config.stash[_OUTCOMES] = {}


def _hosts(config: pytest.Config) -> list[HostSpec]:
    specs: list[HostSpec] | None = config.hook.pytest_websock_hosts(config=config)
    if specs is None:
        specs = list(HOSTS.values())
    wanted = config.getoption("--websock-hosts")
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        unknown = set(names) - {s.name for s in specs}
        if unknown:
            raise pytest.UsageError(f"unknown websock host(s): {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in names]
    return specs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "websock_host" in metafunc.fixturenames:
        specs = _hosts(metafunc.config)
        metafunc.parametrize(
            "websock_host", specs, ids=[s.name for s in specs], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def websock_host(request: pytest.FixtureRequest) -> HostSpec:
    spec: HostSpec = request.param
    missing = spec.unavailable()
    if missing:
        pytest.skip(f"{spec.name}: {missing}")
    return spec


@pytest.fixture(scope="session")
def websock_recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture(scope="session")
def websock_server(websock_host: HostSpec, websock_recorder: Recorder) -> Iterator[Running]:
    # Depends on the recorder so that it outlives the servers: a server stopping at the
    # end of the session still reports its connections' terminate.
    with websock_host.running() as server:
        yield server


class Contract:
    """What a contract test needs: URLs with a fresh connection id, the recorder, and
    the host's declared capabilities (``observe`` records and checks an outcome)."""

    def __init__(
        self, spec: HostSpec, server: Running, recorder: Recorder, observed: dict[str, Any]
    ) -> None:
        self.spec = spec
        self.server = server
        self.recorder = recorder
        self._observed = observed

    @property
    def host(self) -> str:
        return self.spec.name

    def url(
        self, path: str = "/ws", server: Running | None = None, **query: Any
    ) -> tuple[str, str]:
        """A URL on the server with a fresh connection id; returns ``(url, id)``."""
        conn_id = uuid.uuid4().hex
        params = {"id": conn_id, "rec": self.recorder.port, **query}
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{(server or self.server).url}{path}?{qs}", conn_id

    async def terminated(self, conn_id: str) -> dict[str, Any]:
        """The terminate reason the handler reported for ``conn_id``."""
        return await self.recorder.wait(conn_id)

    def close_code(self, code: int) -> int:
        """The close code the client sees for the runtime's ``code`` on this host."""
        if self.spec.capabilities.get("close_codes") == "1xxx→3xxx" and 1000 < code < 2000:
            return code + 2000
        return code

    def capability(self, feature: str) -> Any:
        return self.spec.capabilities[feature]

    def observe(self, feature: str, value: Any) -> None:
        """Record what the host did for ``feature`` and assert it is what it declares."""
        self._observed[feature] = value
        declared = self.spec.capabilities.get(feature)
        # A tuple declares a host whose outcome is racy: any of its values is as declared.
        if isinstance(declared, tuple) and value in declared:
            return
        assert value == declared, (
            f"{self.host}: {feature} observed {value!r}, declared {declared!r} "
            "(update websock/contract/capabilities.py if the host changed)"
        )


@pytest.fixture
def contract(
    request: pytest.FixtureRequest,
    websock_host: HostSpec,
    websock_server: Running,
    websock_recorder: Recorder,
) -> Contract:
    observed = request.config.stash[_OBSERVED].setdefault(websock_host.name, {})
    return Contract(websock_host, websock_server, websock_recorder, observed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and "contract" in getattr(item, "fixturenames", ()):
        callspec = getattr(item, "callspec", None)
        spec = callspec.params.get("websock_host") if callspec is not None else None
        if isinstance(spec, HostSpec):
            counts = item.config.stash[_OUTCOMES].setdefault(spec.name, [0, 0])
            counts[0 if report.passed else 1] += 1
    return report


def _cell(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "**no**"
    if value is None:
        return "-"
    return str(value)


def render_table(observed: dict[str, dict[str, Any]], outcomes: dict[str, list[int]]) -> str:
    """The host x feature table (markdown) from observed outcomes."""
    header = ["host", "contract tests", *FEATURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for host in sorted(set(observed) | set(outcomes), key=_host_order):
        passed, failed = outcomes.get(host, [0, 0])
        row = [host, f"{passed}/{passed + failed} pass"]
        row += [_cell(observed.get(host, {}).get(f)) for f in FEATURES]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _host_order(name: str) -> tuple[int, str]:
    names = list(HOSTS)
    return (names.index(name) if name in names else len(names), name)


def write_table(path: Path, table: str) -> None:
    text = path.read_text() if path.exists() else f"{START_MARK}\n{END_MARK}\n"
    if START_MARK not in text or END_MARK not in text:
        text += f"\n{START_MARK}\n{END_MARK}\n"
    head, rest = text.split(START_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    path.write_text(f"{head}{START_MARK}\n{table}{END_MARK}{tail}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--websock-capability-table")
    if target:
        observed = session.config.stash[_OBSERVED]
        outcomes = session.config.stash[_OUTCOMES]
        write_table(Path(target), render_table(observed, outcomes))
