"""The reference Policy Enforcement Point. Imports nothing from Django, by rule (see docs/architecture.md).

Entry points (docs/bundle.md has the contract): :func:`pep.builder.build_payload` and
:func:`pep.bundle.sign_payload` on the console side; :class:`pep.bundle.BundleVerifier` and
:meth:`pep.engine.Engine.from_bundle` then :meth:`pep.engine.Engine.decide` on an enforcement point; the risk
attribute registry in :mod:`pep.attributes`; ``python -m pep`` for the command line.
"""
