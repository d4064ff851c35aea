"""Dependencies of the aggregates API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

LayerQuery = Annotated[
    str, Query(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]+$", description="Layer slug.")
]
