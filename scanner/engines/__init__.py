"""Engines evaluate rules over items (secrets) and documents (policy)."""
