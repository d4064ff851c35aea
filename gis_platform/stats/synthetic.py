"""Deterministic pseudo-random numbers for synthetic data: same keys, same numbers, on every machine."""

from __future__ import annotations

import hashlib

SYNTHETIC_SOURCE = "Synthetic (generated deterministically by gis_platform.stats; not real data)"
SYNTHETIC_LICENCE = "CC0-1.0 (synthetic)"

#: People per km² used to invent a population where no open census exists (the Bình Dương and Bà
#: Rịa-Vũng Tàu wards merged into HCMC on 2025-07-01): chosen so that the 66 wards total about 3.5
#: million people, the order of magnitude of the two provinces; labelled synthetic wherever used.
DENSITY_BY_TYPE = {"Phường": 1800.0, "Thị trấn": 1000.0, "Xã": 250.0, "Đặc khu": 150.0}


def jitter(low: float, high: float, *keys: object) -> float:
    """A number in ``[low, high)`` chosen by ``keys`` (a hash, much cheaper than a generator)."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    return low + (high - low) * (int.from_bytes(digest[:8], "little") / 2**64)


def synthetic_population(code: str, unit_type: str | None, area_km2: float, period: str) -> int:
    """Invent a plausible population for a ward without census figures (labelled synthetic)."""
    density = DENSITY_BY_TYPE.get(unit_type or "", 800.0)
    base = area_km2 * density * jitter(0.6, 1.4, "population", code)
    growth = 1.0 if period == "2019" else jitter(0.78, 0.92, "growth", code)
    return max(500, round(base * growth))
