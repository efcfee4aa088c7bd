"""A tiny numpy app: it exists to be bundled (and benchmarked, see bench/)."""

__version__ = "1.0.0"
