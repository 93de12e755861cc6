"""The contract suite on every host this project supports (websock.contract.hosts.HOSTS).

Its fixtures come from the ``websock.contract.plugin`` pytest plugin, loaded by tests/conftest.py
(pytest accepts ``pytest_plugins`` only in a top-level conftest).
"""
