"""Datasets shared by the engines (no Qt)."""
