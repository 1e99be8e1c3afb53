"""Data shipped with syncd (read with importlib.resources)."""
