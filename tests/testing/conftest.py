from __future__ import annotations

from collections.abc import Iterator

import pytest

from tyler.testing import FakeModelServer


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as s:
        yield s
