"""Distribution of signed bundles and revocation deltas to the enforcement points (docs/distribution.md).

The registry of enforcement points, the transactional outbox (one ``Delivery`` row per point, written in
the transaction that approves a publication or revokes a credential), the mutual-TLS client that speaks
the PEP control API, and the ledger the convergence page shows.
"""
