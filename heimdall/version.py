"""The running version, reported by /health and the OpenAPI schema."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("heimdall")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
