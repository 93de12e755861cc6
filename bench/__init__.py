"""Benchmarks of websock against peer WebSocket servers (see docs/performance.md)."""
