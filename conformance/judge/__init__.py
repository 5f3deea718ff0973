"""Judging a reply: the contract, the case's expectations, the official-SDK (client) layer, verdict caches,
reply shapes, captured traffic (`conformance validate`)."""
