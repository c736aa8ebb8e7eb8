"""The one way a lower app makes a higher one act: named hooks whose callbacks run in the caller's transaction.

A lower app (accounts, certificates) calls ``fire("credential.revoked", ...)`` from inside its action; a
higher app (policies) connects a callback in its ``AppConfig.ready``. The callback runs synchronously in the
same transaction, so its writes commit or roll back with the action that fired it; it must not do network
work (enqueue with ``transaction.on_commit`` instead). Lower apps never import the higher ones.

Hooks in use (keyword arguments):

- ``credential.revoked``: ``environment`` (an environment code, or "" for every one), ``certificates`` (SHA-256 of the
  DER certificates), ``identities`` (bundle identity ids), ``devices`` (device ids), ``actor``, ``request``.
  Fired when a certificate is revoked, an identity suspended or revoked, a device taken out of use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

_callbacks: dict[str, list[Callable[..., Any]]] = defaultdict(list)


def connect(name: str, callback: Callable[..., Any]) -> None:
    """Register ``callback`` for hook ``name`` (once; a second registration of the same function is ignored)."""
    if callback not in _callbacks[name]:
        _callbacks[name].append(callback)


def fire(name: str, **kwargs: Any) -> None:
    """Run every callback of ``name`` now, in the caller's transaction; an exception rolls the action back."""
    for callback in list(_callbacks.get(name, ())):
        callback(**kwargs)
