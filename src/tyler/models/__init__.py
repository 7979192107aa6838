"""Compatibility package: Tyler code imports `tyler.models.execution`."""
