"""Conformance suite for AI gateways."""

__version__ = "0.1.0"
