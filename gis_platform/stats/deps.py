"""Query parameters of the statistics API, one alias each (validated and documented once)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query

from gis_platform.admin.models import Level
from gis_platform.stats.choropleth import MAX_K, MIN_K, Scheme
from gis_platform.stats.periods import PERIOD_PATTERN

IndicatorQuery = Annotated[
    str, Query(min_length=2, max_length=63, pattern=r"^[a-z][a-z0-9_]+$", description="Indicator code.")
]
LevelQuery = Annotated[Level, Query(description="city, district, ward, neighbourhood or residential_group")]
AtQuery = Annotated[
    date | None, Query(description="The day whose boundaries to use (YYYY-MM-DD); today when omitted.")
]
PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=7, pattern=PERIOD_PATTERN, description="YYYY, YYYY-Qn or YYYY-MM; the latest when omitted."
    ),
]
SchemeQuery = Annotated[
    Scheme, Query(description="quantiles, equal_interval, fisher_jenks or natural_breaks")
]
KQuery = Annotated[int, Query(ge=MIN_K, le=MAX_K, description="Number of classes (2..9).")]
UnitCodePath = Annotated[str, Path(max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]
