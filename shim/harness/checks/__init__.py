"""Judging sessions: the contracts, the legacy protocol rules and the conformance cases."""
