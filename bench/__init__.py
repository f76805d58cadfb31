"""Benchmarks, run by a documented command (see docs/performance.md); not part of the tests."""
