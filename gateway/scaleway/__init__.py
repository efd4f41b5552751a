"""Clients for Scaleway's own APIs (outside the request path): the Environmental Footprint API."""
