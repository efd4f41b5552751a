"""The one error the carbon engine raises for bad catalogue data, settings or overrides."""

from __future__ import annotations


class CatalogueError(ValueError):
    """A catalogue file, a `carbon:` setting or a model's `carbon:` override is invalid.

    The message names the file or key and the problem, so the gateway can show it as is.
    """
