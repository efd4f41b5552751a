"""carbon-gateway's domain: carbon estimates, catalogue, counters, budgets, reports.

Pure and HTTP-free: nothing here imports `gateway`.
"""
