"""A small tkinter demo bundled by bundler (see docs/gui.md)."""

__version__ = "1.0.0"
