"""Fingerprints, physical tables, environments and plans."""
