"""Shipped synthetic data for notebooks and tests (no real person)."""
