"""Fixtures for tests that talk to fake servers over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_a1111 import FakeA1111


@pytest.fixture
def fake_a1111() -> Iterator[FakeA1111]:
    """A fresh fake AUTOMATIC1111 (UI+API, no auth) on 127.0.0.1, a free port; stopped after."""
    fake = FakeA1111(host="127.0.0.1", port=0)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
