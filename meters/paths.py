"""Where the project's data files live: the default config and the carbon catalogue.

`meters/data` is the package's copy: in a checkout (or an editable install) a symlink to the top-level
`config/`, the one source of truth; in a wheel, the files themselves (pyproject.toml's package-data).
`CARBON_GATEWAY_DATA` points elsewhere (a container's mounted config, say).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("CARBON_GATEWAY_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "data"
