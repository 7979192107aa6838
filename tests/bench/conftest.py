"""The bench smoke test (`-m bench`) builds venvs and runs the suite for ~2 minutes, so a plain
local `pytest` skips it; it runs in CI (CI set), when selected with `-m bench`, or with
BENCH_SMOKE=1."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: runs the benchmark suite's --quick smoke (venvs, ~2 min)")


def _wanted(config) -> bool:
    if os.environ.get("CI") or os.environ.get("BENCH_SMOKE"):
        return True
    expr = config.getoption("markexpr") or ""
    return "bench" in expr and "not bench" not in expr


def pytest_collection_modifyitems(config, items):
    if _wanted(config):
        return
    skip = pytest.mark.skip(reason="bench smoke: runs in CI, with -m bench, or with BENCH_SMOKE=1")
    for item in items:
        if item.get_closest_marker("bench") is not None:
            item.add_marker(skip)
