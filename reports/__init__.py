"""Compliance reports and signed audit exports: the composition layer, beside console/ (docs/compliance.md)."""
