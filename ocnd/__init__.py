"""ocnd: an Open Charging Network node for Twisted."""

__version__ = "0.1.0"
