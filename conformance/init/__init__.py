"""`conformance init`: a target file for a gateway, written from what the gateway says it serves.

probe.py asks the gateway for its models (short timeouts, the credential from the environment),
scaffold.py writes the target file's text (what cannot be known is marked TO DECLARE), command.py
ties them together and writes the file atomically.
"""
