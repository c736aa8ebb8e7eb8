"""ISO 3166-1 alpha-2 country codes, from pycountry's maintained copy of the standard.

The one validator every app uses (expected countries of identities, the CIDR -> country table, the
simulator), so "IF" or "ZZ" is refused everywhere alike, not only format-checked.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=1)
def alpha_2_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def is_country_code(value: str) -> bool:
    """True for an officially assigned ISO 3166-1 alpha-2 code, upper case (``GB``), false otherwise."""
    return value in alpha_2_codes()
