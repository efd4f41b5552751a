"""Where the project's data files live.

`config/` sits beside `meters/` in a checkout or an editable install; a packaged
install (or a container) can point elsewhere with `CARBON_GATEWAY_DATA`.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("CARBON_GATEWAY_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "config"
