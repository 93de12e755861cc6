"""The echo applications each benchmarked server serves (same semantics everywhere)."""
