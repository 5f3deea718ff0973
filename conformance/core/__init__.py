"""Foundations every stage shares: the captured exchange and its findings, modes, results, the disk cache."""
