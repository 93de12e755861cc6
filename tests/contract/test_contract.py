"""Run the shared contract suite (websock.contract.suite) over every host."""

from websock.contract.suite import *  # noqa: F403
