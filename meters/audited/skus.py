"""SKU -> model: configurable patterns first, then "a configured model id found in the SKU".

Scaleway's footprint data has no model field: the SKU is the finest grain. Its catalogue names Generative APIs
SKUs like `/ai/generative_apis/consumption/<model>_<token type>/fr-par` (not verified against a live footprint
answer), so the default looks for a configured model id inside the SKU, delimited (not part of a longer id),
case-insensitively, the longest id winning (`llama-3.1-70b-instruct` over `llama-3.1-70b`). A SKU that matches
nothing maps to None: the caller keeps it as unattributed.

Patterns (config, e.g. `audited.sku_patterns`): a list of `{pattern: REGEX, model: ID}` (a match maps to ID)
or `{pattern: REGEX}` with a named group `model` whose text must be a known model id. Tried in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from meters.audited.errors import AuditedImportError

_ID_CHARS = "a-z0-9.\\-"


@dataclass(frozen=True, slots=True)
class SkuPattern:
    regex: re.Pattern[str]
    model: str | None
    """Fixed target; None: the regex's `model` group names it."""


def parse_sku_patterns(raw: object, param: str = "sku_patterns") -> tuple[SkuPattern, ...]:
    """Config list -> patterns; errors name the entry (`sku_patterns[1].pattern`)."""
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise AuditedImportError("must be a list of {pattern, model?}", param=param)
    patterns: list[SkuPattern] = []
    for index, entry in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("pattern"), str):
            raise AuditedImportError("needs a 'pattern' string", param=f"{where}.pattern")
        try:
            regex = re.compile(entry["pattern"], re.IGNORECASE)
        except re.error as error:
            raise AuditedImportError(
                f"not a regular expression: {error}", param=f"{where}.pattern"
            ) from error
        model = entry.get("model")
        if model is not None and not isinstance(model, str):
            raise AuditedImportError("must be a model id", param=f"{where}.model")
        if model is None and "model" not in regex.groupindex:
            raise AuditedImportError("needs a 'model' or a (?P<model>...) group", param=f"{where}.pattern")
        patterns.append(SkuPattern(regex, model))
    return tuple(patterns)


class SkuMapper:
    """Maps SKUs to model ids. `models`: the ids to look for, or {id found in SKUs: model to report}."""

    def __init__(
        self, models: Mapping[str, str] | Iterable[str], patterns: Sequence[SkuPattern] = ()
    ) -> None:
        targets = dict(models) if isinstance(models, Mapping) else {name: name for name in models}
        self._targets = {name.lower(): model for name, model in targets.items()}
        self._models = frozenset(targets.values())
        self._patterns = tuple(patterns)
        ordered = sorted(self._targets, key=len, reverse=True)
        self._searches = [
            (re.compile(f"(?<![{_ID_CHARS}]){re.escape(name)}(?![{_ID_CHARS}])"), name) for name in ordered
        ]

    def knows(self, model: str) -> bool:
        """True if `model` is a configured model (what a `model` figure must name)."""
        return model in self._models or model.lower() in self._targets

    def canonical(self, model: str) -> str | None:
        if model in self._models:
            return model
        return self._targets.get(model.lower())

    def model_of(self, sku: str) -> str | None:
        for pattern in self._patterns:
            match = pattern.regex.search(sku)
            if match is None:
                continue
            if pattern.model is not None:
                return pattern.model
            found = self.canonical(match.group("model"))
            if found is not None:
                return found
        lowered = sku.lower()
        for regex, name in self._searches:  # longest id first: the first hit is the longest
            if regex.search(lowered):
                return self._targets[name]
        return None
