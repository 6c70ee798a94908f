"""Placeholder for issue 29 (being written)."""
