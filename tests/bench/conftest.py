"""The bench smoke test is selectable with `-m bench` (and skippable with `-m "not bench"`)."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: runs the benchmark suite's --quick smoke (venvs, ~2 min)")
