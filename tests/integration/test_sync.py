"""`layers sync` against a real PostGIS: idempotent metadata upserts, dry runs, conflicts, data loading."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gis_platform.catalogue import sync
from gis_platform.catalogue.manifest import LayerSet, Manifest, load_layer_set
from gis_platform.text import fold

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def layer_set() -> LayerSet:
    return load_layer_set()


@pytest.fixture(scope="module")
def synced(db_url: str, layer_set: LayerSet) -> dict[str, Any]:
    """The module database after one metadata sync, with the reports of a first and a second run."""
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        first = sync.sync(conn, layer_set, metadata_only=True)
        elapsed = time.perf_counter() - started
        second = sync.sync(conn, layer_set, metadata_only=True)
    return {"first": first, "second": second, "elapsed": elapsed}


@pytest.fixture
def conn(db_url: str, synced: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url) as c:
        yield c


def _one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _with(layer_set: LayerSet, *manifests: Manifest) -> LayerSet:
    replaced = {m.slug: m for m in manifests}
    kept = [replaced.pop(m.slug, m) for m in layer_set.manifests]
    return LayerSet(layer_set.root, layer_set.categories, kept + list(replaced.values()))


def _manifest(layer_set: LayerSet, slug: str) -> Manifest:
    return next(m for m in layer_set.manifests if m.slug == slug)


def test_first_sync_creates_everything_and_second_changes_nothing(
    synced: dict[str, Any], layer_set: LayerSet, conn: psycopg.Connection[Any]
) -> None:
    n = len(layer_set.manifests)
    assert synced["first"].counts() == {"created": n}
    assert synced["first"].categories == {"created": len(layer_set.categories), "updated": 0, "unchanged": 0}
    assert synced["second"].counts() == {"unchanged": n}
    assert synced["second"].categories["unchanged"] == len(layer_set.categories)
    assert synced["elapsed"] < 10, synced["elapsed"]
    assert _one(conn, "SELECT count(*) FROM catalogue.layer WHERE managed_by = 'manifest'") == n
    assert _one(conn, "SELECT count(*) FROM catalogue.category") == len(layer_set.categories)
    assert all(r.data == "not requested" for r in synced["first"].layers)


def test_rows_carry_the_manifest(conn: psycopg.Connection[Any], layer_set: LayerSet) -> None:
    row = _one(
        conn,
        "SELECT title_vi, category, agency, synthetic, visibility, search_text, tile_settings, attribute_schema, "
        "source, manifest_checksum FROM catalogue.layer WHERE slug = %s",
        "truong-hoc-pho-thong",
    )
    title, category, agency, synthetic, visibility, search, tiles, attributes, source, checksum = row
    assert title.startswith("Trường học phổ thông") and category == "education"
    assert agency == "Sở Giáo dục và Đào tạo" and synthetic and visibility == "public"
    assert search == fold(search) and "truong hoc pho thong" in search and "giao duc" in search
    assert tiles["cluster_below_zoom"] == 12 and "10" in tiles["attributes_by_zoom"]
    assert {"name", "students", "ward_code"} <= {a["name"] for a in attributes}
    assert source["generator"] == "points" and source["large"] is False
    assert checksum == _manifest(layer_set, "truong-hoc-pho-thong").checksum(layer_set.category_map)
    households = _one(
        conn, "SELECT visibility, source->>'large' FROM catalogue.layer WHERE slug = 'dan-cu-ho-gia-dinh'"
    )
    assert households == ("internal", "true")


def test_a_changed_manifest_is_updated_alone(conn: psycopg.Connection[Any], layer_set: LayerSet) -> None:
    original = _manifest(layer_set, "cong-vien")
    changed = original.model_copy(
        update={"title_vi": "Công viên (đã sửa)", "keywords": [*original.keywords, "vườn"]}
    )
    report = sync.sync_metadata(conn, _with(layer_set, changed))
    assert report.counts() == {"updated": 1, "unchanged": len(layer_set.manifests) - 1}
    assert _one(conn, "SELECT title_vi FROM catalogue.layer WHERE slug = 'cong-vien'") == "Công viên (đã sửa)"
    assert "vuon" in _one(conn, "SELECT search_text FROM catalogue.layer WHERE slug = 'cong-vien'")
    restored = sync.sync_metadata(conn, layer_set, only=["cong-vien"])
    assert restored.counts() == {"updated": 1}
    assert _one(conn, "SELECT title_vi FROM catalogue.layer WHERE slug = 'cong-vien'") == "Công viên"


def test_dry_run_reports_but_writes_nothing(conn: psycopg.Connection[Any], layer_set: LayerSet) -> None:
    park = _manifest(layer_set, "cong-vien")
    new = park.model_copy(update={"slug": "cong-vien-thu-nghiem"})
    before = _one(conn, "SELECT max(updated_at) FROM catalogue.layer")
    report = sync.sync(
        conn, _with(layer_set, park.model_copy(update={"title_en": "Parks!"}), new), dry_run=True
    )
    assert report.dry_run and report.counts()["created"] == 1 and report.counts()["updated"] == 1
    assert _one(conn, "SELECT count(*) FROM catalogue.layer WHERE slug = 'cong-vien-thu-nghiem'") == 0
    assert _one(conn, "SELECT title_en FROM catalogue.layer WHERE slug = 'cong-vien'") == "Parks"
    assert _one(conn, "SELECT max(updated_at) FROM catalogue.layer") == before
    data = {r.slug: r.data for r in report.layers}
    assert data["cong-vien"] == "would load"
    assert data["dan-cu-ho-gia-dinh"] == data["doan-duong-bo"] == "skipped (large; use --large)"


def test_only_and_unknown_slugs(conn: psycopg.Connection[Any], layer_set: LayerSet) -> None:
    report = sync.sync(conn, layer_set, only=["cho-osm", "benh-vien"], metadata_only=True)
    assert [r.slug for r in report.layers] == ["cho-osm", "benh-vien"]
    assert report.counts() == {"unchanged": 2}
    with pytest.raises(KeyError, match="no-such-layer"):
        sync.sync(conn, layer_set, only=["no-such-layer"], metadata_only=True)


def test_layers_uploaded_through_the_api_are_left_alone(
    conn: psycopg.Connection[Any], layer_set: LayerSet
) -> None:
    conn.execute(
        "INSERT INTO catalogue.layer (slug, title_vi, title_en, category, agency, licence, attribution, "
        "geometry_type, managed_by) VALUES ('tai-len-thu', 'Tải lên', 'Upload', 'education', 'Sở', 'CC0', "
        "'-', 'Point', 'api')"
    )
    conn.execute(
        "INSERT INTO catalogue.layer (slug, title_vi, title_en, category, agency, licence, attribution, "
        "geometry_type) VALUES ('bo-manifest-cu', 'Cũ', 'Old', 'education', 'Sở', 'CC0', '-', 'Point')"
    )
    conn.commit()
    clash = _manifest(layer_set, "truong-mam-non").model_copy(update={"slug": "tai-len-thu"})
    report = sync.sync(conn, _with(layer_set, clash), only=["tai-len-thu"])
    assert report.counts() == {"conflict": 1}
    assert report.layers[0].data == "skipped (managed by api)"
    assert _one(conn, "SELECT title_vi, managed_by FROM catalogue.layer WHERE slug = 'tai-len-thu'") == (
        "Tải lên",
        "api",
    )
    assert report.orphaned == ["bo-manifest-cu"]
    conn.execute("DELETE FROM catalogue.layer WHERE slug IN ('tai-len-thu', 'bo-manifest-cu')")
    conn.commit()


def test_data_sync_loads_then_is_up_to_date(conn: psycopg.Connection[Any], layer_set: LayerSet) -> None:
    pytest.importorskip("gis_platform.ingest.service")
    slugs = ["cho-osm", "tram-y-te-phuong-xa", "tuyen-xe-buyt"]
    first = sync.sync(conn, layer_set, only=slugs)
    assert [r.data for r in first.layers] == ["loaded"] * 3, [(r.slug, r.data, r.error) for r in first.layers]
    counts = {r.slug: r.feature_count for r in first.layers}
    assert counts["cho-osm"] == 13 and counts["tram-y-te-phuong-xa"] == 168
    for slug in slugs:
        _version, status, checksum = _one(
            conn,
            "SELECT v.version, v.status, v.checksum FROM catalogue.layer l JOIN catalogue.layer_version v "
            "ON v.layer_id = l.id AND v.version = l.current_version WHERE l.slug = %s",
            slug,
        )
        assert status == "published"
        assert checksum == sync.source_checksum(_manifest(layer_set, slug))
    again = sync.sync(conn, layer_set, only=slugs)
    assert [r.data for r in again.layers] == ["up to date"] * 3
    assert again.counts() == {"unchanged": 3}


def test_cli_sync_validate_and_dry_run(db_url: str, synced: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from gis_platform.cli.layers import app
    from gis_platform.settings import get_settings

    runner = CliRunner()
    get_settings.cache_clear()
    try:
        env = {"DATABASE_URL": db_url, "COLUMNS": "200"}
        result = runner.invoke(app, ["sync", "--metadata-only", "--only", "benh-vien,cho-osm"], env=env)
        assert result.exit_code == 0, result.output
        assert "2 layers: 0 created, 0 updated, 2 unchanged" in result.output
        dry = runner.invoke(app, ["sync", "--dry-run", "--only", "dan-cu-ho-gia-dinh"], env=env)
        assert dry.exit_code == 0, dry.output
        assert "skipped (large; use --large)" in dry.output and "dry run" in dry.output
        missing = runner.invoke(app, ["sync", "--metadata-only", "--only", "khong-co"], env=env)
        assert missing.exit_code == 1 and "no manifest for khong-co" in missing.output
    finally:
        get_settings.cache_clear()
    assert "manifests in 24 categories are valid" in runner.invoke(app, ["validate", "--no-sources"]).output
