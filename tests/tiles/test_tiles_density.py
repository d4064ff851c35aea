"""Dense layers stay small: clustering, thinning with counts, and the per-tile feature cap."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gis_platform.ingest.service import import_frame
from gis_platform.tiles.rules import lonlat_to_tile
from tests.factories import ensure_layer, point_frame
from tests.tiles.conftest import TileServer, decode, line_frame, set_tile_settings

pytestmark = pytest.mark.db

DENSE = (106.695, 10.775, 106.705, 10.785)  # ~1.1 km square: 200k points, inside one tile up to z14
CENTRE = ((DENSE[0] + DENSE[2]) / 2, (DENSE[1] + DENSE[3]) / 2)
N = 200_000
MAX_BYTES = 500_000


@pytest.fixture(scope="module")
def server(pg: psycopg.Connection[Any], tile_server: Any) -> TileServer:
    ensure_layer(pg, "d-points", "Point")
    import_frame(pg, "d-points", point_frame(N, seed=5, bbox=DENSE), author="test", publish=True)
    set_tile_settings(
        pg, "d-points", {"minzoom": 0, "maxzoom": 20, "cluster_below_zoom": 8, "thin_points_below_zoom": 12}
    )
    ensure_layer(pg, "d-lines", "LineString")
    import_frame(pg, "d-lines", line_frame(3000, bbox=DENSE), author="test", publish=True)
    set_tile_settings(pg, "d-lines", {"maxzoom": 18})
    return tile_server(max_features_per_tile=500)


def fetch(server: TileServer, slug: str, z: int) -> tuple[int, list[dict[str, Any]]]:
    x, y = lonlat_to_tile(*CENTRE, z)
    resp = server.get(f"/tiles/{slug}/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
    assert resp.status_code == 200, resp.text
    return len(resp.content), decode(resp.content)[slug]["features"]


def test_every_zoom_of_a_dense_200k_point_tile_is_small(server: TileServer) -> None:
    for z in range(0, 21):
        size, features = fetch(server, "d-points", z)
        assert size < MAX_BYTES, (z, size)
        assert features, z


def test_low_zooms_cluster_with_counts(server: TileServer) -> None:
    for z in (4, 7):
        _, features = fetch(server, "d-points", z)
        assert all(set(f["properties"]) == {"count"} for f in features)
        assert sum(f["properties"]["count"] for f in features) == N  # every point counted once
        assert all(not f.get("id") for f in features), features[:2]


def test_middle_zooms_thin_with_counts_and_attributes(server: TileServer) -> None:
    _, features = fetch(server, "d-points", 10)
    assert len(features) <= (64 + 2) ** 2
    assert sum(f["properties"]["count"] for f in features) == N
    assert {"count", "name", "kind", "value", "score"} <= set(features[0]["properties"])
    assert isinstance(features[0]["id"], int)


def test_the_feature_cap_thins_a_full_tile_and_spares_a_sparse_one(server: TileServer) -> None:
    _, dense = fetch(server, "d-points", 14)  # ~200k points in the tile, above the cap of 500
    assert "count" in dense[0]["properties"] and len(dense) <= (64 + 2) ** 2
    _, sparse = fetch(server, "d-points", 20)  # a few points: every one, no counts
    assert 0 < len(sparse) <= 500 and "count" not in sparse[0]["properties"]


def test_the_feature_cap_keeps_the_longest_lines(server: TileServer) -> None:
    _, features = fetch(server, "d-lines", 10)
    assert len(features) == 500  # of 3000, all in this tile
    _, near = fetch(server, "d-lines", 18)
    assert 0 < len(near) < 500
