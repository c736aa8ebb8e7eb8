"""The reference Policy Enforcement Point. Imports nothing from Django, by rule (see docs/architecture.md)."""
