"""The websock contract suite, packaged so any server can prove it hosts websock apps.

- ``app``: the SPEC-only contract app and handler every host serves;
- ``hosts``: server factories (``HostSpec``) for every supported host;
- ``capabilities``: what each host declares where hosts differ;
- ``suite``: the test functions (import them into a test module);
- ``plugin``: the pytest plugin (fixtures, host parametrization, capability table);
- ``recorder``: how a handler in any process reports its terminate reason to the test.

See docs/hosts.md, "Running the suite against your server".
"""
