"""Metrics, access logs, traces and the /metrics endpoint (issue 5).

Import the submodules directly (`gateway.observability.metrics`, `.endpoint`, `.logs`,
`.tracing`, `.settings`, `.multiprocess`); this package imports nothing heavy on its own.
"""
