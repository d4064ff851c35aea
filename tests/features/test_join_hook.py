"""The join hook: extra properties (statistics) joined onto a layer's rows behave like columns."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from psycopg import sql

from gis_platform.features import service
from gis_platform.features.binds import Binds
from gis_platform.features.models import Field, ItemsQuery, Join, SortKey
from gis_platform.features.params import items_query
from tests.features.conftest import PARCELS, load_layers

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def parcels_db(db_url: str) -> str:
    load_layers(db_url)
    return db_url


@pytest.fixture
async def conn(parcels_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(parcels_db)
    yield connection
    await connection.close()


def indicator_join(table: str, year: int) -> Join:
    """A stand-in for ``?join=indicator``: a value per parcel code for one year, as a bound parameter."""

    def clause(binds: Binds) -> sql.Composable:
        return sql.SQL(
            "LEFT JOIN (SELECT code, (right(code, 2)::int * 10 + {} % 10)::double precision AS population "
            "FROM layerdata.{} ) j ON j.code = t.code"
        ).format(binds.add(year, "integer"), sql.Identifier(table))

    return Join("indicator", clause, (Field("population", "double", "Population", sql.SQL("j.population")),))


async def test_joined_properties_can_be_selected_filtered_and_sorted(conn: asyncpg.Connection) -> None:
    layer = await service.get_collection(conn, PARCELS)
    join = indicator_join(layer.table, 2024)
    joined = layer.with_join(join)
    query = await items_query(
        [("filter", "population >= 200"), ("sortby", "-population"), ("limit", "50")], joined
    )
    rows = await service.open_rows(conn, joined, query, "geojson")
    features = [orjson.loads(r[0]) for batch in [b async for b in rows.batches()] for r in batch]
    pops = [f["properties"]["population"] for f in features]
    assert pops == sorted(pops, reverse=True) and min(pops) >= 200 and len(pops) == 10
    assert features[0]["properties"]["code"] == "P029" and pops[0] == 294.0
    assert "population" in {f.name for f in joined.fields}
    with pytest.raises(ValueError, match="redefines"):
        joined.with_join(join)
    plain = ItemsQuery(limit=3, sortby=(SortKey(joined.fields[-1], True),), properties=(joined.fields[-1],))
    rows = await service.open_rows(conn, joined, plain, "csv")
    lines = [r[0] for batch in [b async for b in rows.batches()] for r in batch]
    assert lines[0].split(",")[1] == "294"
