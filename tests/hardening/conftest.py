from __future__ import annotations

import pytest

from tests.hardening.support import KEY, KEY_ENV


@pytest.fixture(autouse=True)
def _tenant_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
