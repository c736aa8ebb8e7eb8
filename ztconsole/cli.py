"""``manage.py`` entry point: configuration problems end a command with a sentence, not a traceback.

A command run without the environment it needs (no DJANGO_SECRET_KEY, an unreadable ``*_FILE``, a key ring
that cannot open a stored secret) prints what is wrong and what to set, and exits with status 2. Pass
``--traceback`` to see the Python traceback as well.
"""

from __future__ import annotations

import os
import sys

DEMO_HINT = (
    'To run commands against `make demo` (its database, keys and Redis), use `make manage ARGS="..."` '
    "or `scripts/manage ...`."
)
ENV_HINT = (
    "Production settings come from the environment (README.md, Configuration): at least DJANGO_SECRET_KEY "
    "(or DJANGO_SECRET_KEY_FILE), ZT_SECRETS_KEYS (or ZT_SECRETS_KEYS_FILE) and DATABASE_URL; "
    "DJANGO_DEBUG=1 accepts development defaults."
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from ztconsole.core.crypto import SecretDecryptionError

    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        if "--traceback" in argv:
            raise
        print(f"manage.py: configuration error: {exc}", file=sys.stderr)
        print(ENV_HINT, file=sys.stderr)
        print(DEMO_HINT, file=sys.stderr)
        return 2
    except SecretDecryptionError as exc:
        if "--traceback" in argv:
            raise
        print(f"manage.py: {exc.explanation}", file=sys.stderr)
        return 2
    return 0
