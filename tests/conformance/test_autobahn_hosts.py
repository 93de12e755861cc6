"""Autobahn|Testsuite through the hosts, with attribution (issue 4, docs/hosts.md).

A short case selection is played against websock on uvicorn (websockets-sansio) and on
aiohttp, and against each host's RAW echo (no websock: ``websock.contract.echo``) with the
same limits and compression. A case that fails through websock but passes on the raw echo
is OUR failure; a case failing on both is the host's. The test asserts that every case
failing through websock is (a) in the host-attributed list that docs/hosts.md records and
(b) failing on the raw echo of the same host in the same run. The full selection (1-7,
9.1-9.2, 10, 12.1, 13.1) is run the same way from the command line (docs/hosts.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conformance.autobahn_suite import REPORTS, AutobahnUnavailable, SuiteResult, run_suite

#: Short enough for a routine run (~84 cases, four servers, well under 3 minutes).
CASES = ["1.*", "2.*", "5.*", "7.*"]

_UVICORN = ["{python}", "-m", "uvicorn", "--ws", "websockets-sansio", "--ws-max-size", "33554432",
            "--log-level", "warning", "--host", "127.0.0.1", "--port", "{port}"]  # fmt: skip


#: "A message, then a bad frame, then a ping": uvicorn fails the connection in the read
#: that holds the bad frame, before its app has the message before it (docs/hosts.md).
_UVICORN_RACY = frozenset(
    {"3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "4.1.3", "4.1.4", "4.1.5"}
    | {"4.2.3", "4.2.4", "4.2.5", "5.15"}
)


@dataclass(frozen=True)
class HostRun:
    name: str
    websock: list[str]
    raw: list[str]
    #: Cases that fail through websock because the host fails them (docs/hosts.md's table);
    #: only those within CASES matter here.
    host_attributed: frozenset[str]
    #: Host-attributed cases whose outcome depends on timing on the host (whether a bad
    #: frame arrives in the same read as the message before it): the raw echo may pass
    #: them in one run and fail them in the next, so they are not compared with it.
    racy: frozenset[str] = frozenset()


HOSTS = {
    "uvicorn": HostRun(
        "uvicorn",
        websock=[*_UVICORN, "websock.contract.echo:asgi_echo"],
        raw=[*_UVICORN, "websock.contract.echo:raw_asgi_echo"],
        host_attributed=frozenset(_UVICORN_RACY | {"6.4.1", "6.4.2", "6.4.3", "6.4.4", "7.1.5"}),
        racy=_UVICORN_RACY,
    ),
    "aiohttp": HostRun(
        "aiohttp",
        websock=["{python}", "-m", "websock.contract.echo", "aiohttp", "{port}"],
        raw=["{python}", "-m", "websock.contract.echo", "aiohttp-raw", "{port}"],
        host_attributed=frozenset({"6.4.1", "6.4.2", "6.4.3", "6.4.4"}),
    ),
}


def _run(command: list[str], agent: str) -> SuiteResult:
    try:
        return run_suite(command, agent=agent, cases=CASES, exclude=[],
                         outdir=REPORTS / "autobahn-hosts" / agent, timeout=300)  # fmt: skip
    except AutobahnUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_every_autobahn_failure_through_a_host_is_the_hosts(host: str) -> None:
    spec = HOSTS[host]
    ours = _run(spec.websock, f"{host}-websock")
    raw = _run(spec.raw, f"{host}-raw")
    assert len(ours.cases) == len(raw.cases) == 84, (len(ours.cases), len(raw.cases))
    failing = {case.id for case in ours.failures}
    raw_failing = {case.id for case in raw.failures}
    print(f"{host}: websock fails {sorted(failing)}; raw echo fails {sorted(raw_failing)}")

    ours_only = failing - raw_failing - spec.racy
    assert not ours_only, (
        f"OUR failures on {host} (the raw echo passes them):\n"
        + ours.failure_report()
        + f"\n(reports: {ours.outdir}, raw: {raw.outdir})"
    )
    undocumented = failing - spec.host_attributed
    assert not undocumented, (
        f"{host}: failures not in docs/hosts.md's host-attributed list: {sorted(undocumented)}"
    )
