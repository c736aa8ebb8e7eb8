"""The composition layer: what puts the apps together (dashboard, demo data). Nothing imports it."""
