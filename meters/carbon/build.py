"""Fast construction of `Estimate` for the per-request hot path.

A frozen dataclass's __init__ sets each field through object.__setattr__, which costs ~1.3 us for the
twelve fields on this machine; writing the slots directly costs ~0.6 us and yields an identical,
still-immutable object.
If the contract's fields ever change, this falls back to the ordinary constructor.
"""

from __future__ import annotations

from meters.carbon.estimate import Estimate

_FIELDS = (
    "gco2e",
    "gco2e_min",
    "gco2e_max",
    "energy_wh",
    "water_ml",
    "usage_gco2e",
    "embodied_gco2e",
    "method",
    "boundary",
    "confidence",
    "source",
    "catalogue_version",
)
FAST_PATH = tuple(getattr(Estimate, "__slots__", ())) == _FIELDS

if FAST_PATH:
    _new = object.__new__
    (
        _s_gco2e,
        _s_min,
        _s_max,
        _s_energy,
        _s_water,
        _s_usage,
        _s_embodied,
        _s_method,
        _s_boundary,
        _s_confidence,
        _s_source,
        _s_version,
    ) = (getattr(Estimate, name).__set__ for name in _FIELDS)

    def build_estimate(
        gco2e: float,
        gco2e_min: float,
        gco2e_max: float,
        energy_wh: float | None,
        water_ml: float | None,
        usage_gco2e: float | None,
        embodied_gco2e: float | None,
        method: str,
        boundary: str,
        confidence: str,
        source: str,
        catalogue_version: str,
    ) -> Estimate:
        est = _new(Estimate)
        _s_gco2e(est, gco2e)
        _s_min(est, gco2e_min)
        _s_max(est, gco2e_max)
        _s_energy(est, energy_wh)
        _s_water(est, water_ml)
        _s_usage(est, usage_gco2e)
        _s_embodied(est, embodied_gco2e)
        _s_method(est, method)
        _s_boundary(est, boundary)
        _s_confidence(est, confidence)
        _s_source(est, source)
        _s_version(est, catalogue_version)
        return est

else:  # pragma: no cover - only if estimate.py gains fields

    def build_estimate(
        gco2e: float,
        gco2e_min: float,
        gco2e_max: float,
        energy_wh: float | None,
        water_ml: float | None,
        usage_gco2e: float | None,
        embodied_gco2e: float | None,
        method: str,
        boundary: str,
        confidence: str,
        source: str,
        catalogue_version: str,
    ) -> Estimate:
        return Estimate(
            gco2e,
            gco2e_min,
            gco2e_max,
            energy_wh,
            water_ml,
            usage_gco2e,
            embodied_gco2e,
            method,
            boundary,
            confidence,
            source,
            catalogue_version,
        )
