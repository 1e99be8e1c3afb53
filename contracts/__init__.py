"""Contracts shared by the core (syncd) and the connectors: error families, pages and outcomes, call
statistics and their observers, the retry policy's interface, timestamps and email identity.

Imports nothing of the project: `syncd` -> `connectors` -> `contracts`, one way.
"""
