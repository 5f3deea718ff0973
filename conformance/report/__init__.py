"""Reporting: results.json, matrix.md/html, profile levels, baselines, diffs, shard merges, progress."""
