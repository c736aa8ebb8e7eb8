"""``python -m pep serve`` runs on a gateway host without the console: its modules import no Django."""

import subprocess
import sys

from tests.pep_gateway.harness import ROOT

CHECK = """
import sys
import pep.gateway.config, pep.gateway.control, pep.gateway.events, pep.gateway.fix, pep.gateway.relay
import pep.gateway.server, pep.gateway.state, pep.gateway.tls
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "ztconsole", "accounts", "policies",
                                                               "certificates", "tests", "simplefix"})
print(loaded)
sys.exit(1 if loaded else 0)
"""


def test_the_gateway_imports_without_django():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK], cwd="/", env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
