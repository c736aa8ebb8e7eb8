"""The enforcement point as a network process: ``python -m pep serve --config pep.toml`` (docs/pep.md).

One asyncio process terminates mutual TLS from FIX counterparties, decides every Logon and application message
with :mod:`pep.engine` from the signed bundle, relays allowed sessions to the venue it fronts, answers the
console on a mutual-TLS control API and reports events back. Nothing here imports Django.
"""
