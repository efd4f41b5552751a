"""The carbon engine: labelled, traceable gCO2e estimates for LLM calls (see meters/METHODOLOGY.md).

engine = CarbonEngine.load(settings=config.get("carbon"))
factors = engine.factors_for("my-model", upstream_model="scaleway/llama-3.1-8b-instruct", provider="scaleway")
estimate = factors.estimate(prompt_tokens, completion_tokens, latency_s)
"""

from meters.carbon.audited import AuditedFigure
from meters.carbon.engine import CarbonEngine
from meters.carbon.errors import CatalogueError
from meters.carbon.estimate import Estimate
from meters.carbon.factors import ModelFactors
from meters.carbon.labels import Basis, Boundary, Confidence, Method, Rank, WaterBoundary
from meters.carbon.validation import MAX_TOKEN_COUNT, validate_token_count

__all__ = [
    "MAX_TOKEN_COUNT",
    "AuditedFigure",
    "Basis",
    "Boundary",
    "CarbonEngine",
    "CatalogueError",
    "Confidence",
    "Estimate",
    "Method",
    "ModelFactors",
    "Rank",
    "WaterBoundary",
    "validate_token_count",
]
