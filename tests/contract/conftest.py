"""The contract suite on every host this project supports (websock.contract.hosts.HOSTS)."""

pytest_plugins = ["websock.contract.plugin"]
