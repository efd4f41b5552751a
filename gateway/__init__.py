"""carbon-gateway: an OpenAI-compatible LLM gateway with inline carbon metering (the HTTP edge)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("carbon-gateway")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
