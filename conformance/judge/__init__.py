"""Judging a reply: the case expectations, the official-SDK (client) layer, verdict caches, reply shapes, captured traffic."""
