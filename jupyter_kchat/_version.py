"""The single place the package version lives (read by hatch)."""

__version__ = "0.1.0"
