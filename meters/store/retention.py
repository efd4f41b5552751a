"""How long each store keeps what: the per-request ledger briefly, the aggregates reports read for 13+ months.

The ledger (one entry per request, ~0.5-0.9 KB) is what grows with traffic: it is kept
`store.ledger_retention_days` (default 35: the 7-day idempotency window and `GET /v1/carbon/requests/{id}`
with room to spare; archive older periods with `carbon-gateway ledger export`). The daily aggregates (one
row per tenant, model or tag and day, whatever the traffic; `/v1/carbon/usage`) are kept 400 days and the
sustainability reports' monthly aggregates `store.monthly_retention_months` (default 25, at least 13; see
meters.store.aggregates), whatever the ledger's retention, so yearly and month-on-month reports keep working.
"""

from __future__ import annotations

LEDGER_RETENTION_DAYS = 35
AGGREGATE_RETENTION_DAYS = 400
