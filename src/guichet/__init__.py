"""Guichet: a deposit gateway (BAL publication API, partner loaders)."""

__version__ = "0.1.0"
