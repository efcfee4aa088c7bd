"""A tiny app that greets; it exists to be bundled."""

__version__ = "1.0.0"
