"""The demo's FIX world outside the console: a simulated RFQ venue and counterparties, on QuickFIX.

Neither piece is ours: both speak FIX through QuickFIX (the ``quickfix-tls`` wheels: QuickFIX's C++ engine with its
TLS transports), so the PEPs are exercised by a FIX engine written by someone else. Like ``pep/``, nothing here
imports Django: the pieces read ``manifest.json`` that ``manage.py load_demo --fix-dir`` writes (docs/demo.md).

    python -m fixsim venue --manifest var/demo/fix/manifest.json
    python -m fixsim counterparties --manifest var/demo/fix/manifest.json [--only quoter,roamer]
"""
