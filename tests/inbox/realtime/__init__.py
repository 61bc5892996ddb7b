"""Helpers for the realtime tests (tests/inbox/test_realtime*.py)."""
