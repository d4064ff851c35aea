"""``gis-platform tiles``: seed (parallel, resumable), PMTiles export, sweep of old versions."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType
from typer.testing import CliRunner, Result

from gis_platform.cli.tiles import app
from gis_platform.ingest.service import import_frame
from gis_platform.settings import get_settings
from tests.factories import ensure_layer, point_frame
from tests.tiles.conftest import decode, set_tile_settings

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def env(
    db_url: str, pg: psycopg.Connection[Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    ensure_layer(pg, "s-points", "Point")
    import_frame(pg, "s-points", point_frame(2000), author="test", publish=True)
    set_tile_settings(pg, "s-points", {"minzoom": 8, "maxzoom": 14, "thin_points_below_zoom": 11})
    cache = tmp_path_factory.mktemp("seed") / "cache"
    yield {
        "DATABASE_URL": db_url,
        "GIS_TILES__CACHE_DIR": str(cache),
        "REDIS_URL": "",
        "GIS_TILES__REDIS": "false",
    }
    get_settings.cache_clear()


def run(env: dict[str, str], *args: str) -> Result:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result


def test_seed_is_parallel_and_resumable(env: dict[str, str]) -> None:
    first = run(env, "seed", "s-points", "--zooms", "0-12", "--workers", "4")
    assert "tiles rendered" in first.output and "0 already cached" in first.output
    files = list(Path(env["GIS_TILES__CACHE_DIR"]).rglob("*.mvt.gz"))
    zooms = {int(p.parent.parent.name) for p in files}
    assert zooms == {8, 9, 10, 11, 12}  # clipped to the layer's minzoom
    sample = next(p for p in files if p.stat().st_size > 0)
    assert decode(gzip.decompress(sample.read_bytes()))["s-points"]["features"]
    again = run(env, "seed", "s-points", "--zooms", "0-12")
    assert "0 tiles rendered" in again.output and f"{len(files)} already cached" in again.output


def test_export_pmtiles_is_readable(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "s-points.pmtiles"
    result = run(
        env,
        "export",
        "s-points",
        "--pmtiles",
        str(out),
        "--zooms",
        "8-13",
        "--bbox",
        "106.6,10.7,106.8,10.85",
    )
    assert out.exists() and "tiles" in result.output
    with open(out, "rb") as f:
        get = MmapSource(f)
        reader = Reader(get)
        header = reader.header()
        assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
        assert (header["min_zoom"], header["max_zoom"]) == (8, 13)
        assert reader.metadata()["vector_layers"][0]["id"] == "s-points"
        tiles = list(all_tiles(get))
        assert tiles
        (z, x, y), data = tiles[0]
        assert decode(gzip.decompress(data))["s-points"]["features"]
        assert reader.get(z, x, y) == data


def test_sweep_deletes_only_versions_no_longer_served(
    env: dict[str, str], pg: psycopg.Connection[Any]
) -> None:
    run(env, "seed", "s-points", "--zooms", "8-9")
    cache = Path(env["GIS_TILES__CACHE_DIR"])
    old = {p.name for p in cache.iterdir()}
    import_frame(pg, "s-points", point_frame(100, seed=9), author="test", publish=True)
    run(env, "seed", "s-points", "--zooms", "8-9")
    both = {p.name for p in cache.iterdir()}
    assert len(both) == 2 and old < both
    kept = run(env, "sweep")  # version 1 is superseded but its table (and versioned URLs) remain
    assert "deleted: 0 layer versions" in kept.output
    dry = run(env, "sweep", "--current-only", "--dry-run")
    assert "would delete: 1 layer versions" in dry.output and {p.name for p in cache.iterdir()} == both
    run(env, "sweep", "--current-only")
    assert {p.name for p in cache.iterdir()} == both - old


def test_bad_zooms_fail_cleanly(env: dict[str, str]) -> None:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["seed", "s-points", "--zooms", "15-16"], env=env)
    assert result.exit_code == 1 and "outside" in result.output
    result = CliRunner().invoke(app, ["seed", "no-such-layer"], env=env)
    assert result.exit_code == 1 and "no-such-layer" in result.output
