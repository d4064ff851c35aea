"""Class breaks with mapclassify and a fixed ColorBrewer ramp (YlOrRd, sequential)."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from gis_platform.errors import InvalidParameter

MIN_K, MAX_K = 2, 9

#: ColorBrewer YlOrRd by number of classes (Cynthia Brewer, colorbrewer2.org; Apache-2.0 licence)
YLORRD: dict[int, tuple[str, ...]] = {
    2: ("#ffeda0", "#f03b20"),
    3: ("#ffeda0", "#feb24c", "#f03b20"),
    4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
    5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    6: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
    7: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    8: ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    9: ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"),
}

# natural_breaks runs k-means seeded from numpy's global generator: seed it, under a lock, so that
# the same values always give the same breaks
_SEED_LOCK = threading.Lock()


class Scheme(StrEnum):
    """Classification schemes."""

    quantiles = "quantiles"
    equal_interval = "equal_interval"
    fisher_jenks = "fisher_jenks"
    natural_breaks = "natural_breaks"


@dataclass(frozen=True)
class Classes:
    """The result of a classification."""

    breaks: list[float]
    colors: list[str]
    counts: list[int]
    lower: float
    assignment: list[int]


def _classify(y: np.ndarray[Any, Any], scheme: Scheme, k: int) -> Any:
    # imported on first use: mapclassify brings scipy.stats and scikit-learn (~90 MB in every worker)
    import mapclassify  # type: ignore[import-untyped]

    if scheme is Scheme.quantiles:
        return mapclassify.Quantiles(y, k=k)
    if scheme is Scheme.equal_interval:
        return mapclassify.EqualInterval(y, k=k)
    if scheme is Scheme.fisher_jenks:
        return mapclassify.FisherJenks(y, k=k)
    with _SEED_LOCK:
        state = np.random.get_state()
        np.random.seed(20250701)  # sklearn's KMeans reads numpy's global generator
        try:
            return mapclassify.NaturalBreaks(y, k=k, initial=1)
        finally:
            np.random.set_state(state)


def classify(values: list[float], scheme: Scheme, k: int) -> Classes:
    """Classify ``values`` into ``k`` classes; :class:`InvalidParameter` when that is impossible."""
    if not MIN_K <= k <= MAX_K:
        raise InvalidParameter("k", f"k must be between {MIN_K} and {MAX_K}")
    y = np.asarray(values, dtype=float)
    distinct = len(np.unique(y))
    if distinct < k:
        raise InvalidParameter("k", f"only {distinct} distinct values: ask for at most {distinct} classes")
    with warnings.catch_warnings():  # "Numba not installed": the pure-Python Fisher-Jenks is fine here
        warnings.simplefilter("ignore", UserWarning)
        result = _classify(y, scheme, k)
    breaks = [float(b) for b in result.bins]
    n = len(breaks)
    return Classes(
        breaks=breaks,
        colors=list(YLORRD[max(MIN_K, n)][:n]),
        counts=[int(c) for c in result.counts],
        lower=float(y.min()),
        assignment=[int(c) for c in result.yb],
    )
