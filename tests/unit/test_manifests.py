"""Layer manifests, their JSON Schema and the deterministic generators of synthetic layers (no database)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import shapely
import yaml

from gis_platform.catalogue import sync
from gis_platform.catalogue.generators import generate, load_wards
from gis_platform.catalogue.manifest import (
    LAYERS_DIR,
    FileSource,
    LayerSet,
    Manifest,
    ManifestError,
    load_layer_set,
    manifest_files,
    manifest_json_schema,
)
from gis_platform.text import fold

SOURCES = LAYERS_DIR / "sources"
REAL_LICENCES = {"ODbL-1.0", "MIT", "GPL-3.0"}


@pytest.fixture(scope="module")
def layer_set() -> LayerSet:
    return load_layer_set(check_sources=True)


def by_slug(layer_set: LayerSet, slug: str) -> Manifest:
    return next(m for m in layer_set.manifests if m.slug == slug)


def test_every_manifest_validates_with_its_source(layer_set: LayerSet) -> None:
    assert len(layer_set.manifests) == len(manifest_files())
    assert len(layer_set.manifests) >= 200
    used = Counter(m.category for m in layer_set.manifests)
    assert len(used) >= 15
    assert set(used) <= {c.id for c in layer_set.categories}
    assert len({m.slug for m in layer_set.manifests}) == len(layer_set.manifests)


def test_generated_layers_are_labelled_synthetic(layer_set: LayerSet) -> None:
    generated = [m for m in layer_set.manifests if not isinstance(m.source, FileSource)]
    assert len(generated) > 100
    for m in generated:
        assert m.synthetic, m.slug
        assert "synthetic" in m.description_en.lower(), m.slug
        assert "giả lập" in m.description_vi, m.slug


def test_real_layers_cite_their_licence(layer_set: LayerSet) -> None:
    real = [m for m in layer_set.manifests if isinstance(m.source, FileSource)]
    assert len(real) >= 25
    for m in real:
        assert not m.synthetic, m.slug
        assert m.licence in REAL_LICENCES, m.slug
        if m.licence == "ODbL-1.0":
            assert "© OpenStreetMap contributors" in m.attribution
    licences = {m.licence for m in real}
    assert licences == REAL_LICENCES
    assert by_slug(layer_set, "cho-osm").source.where == {"amenity": ["marketplace"]}  # type: ignore[union-attr]


def test_school_layer_and_large_layers(layer_set: LayerSet) -> None:
    schools = [m for m in layer_set.manifests if "Trường học" in m.title_vi]
    assert [m.slug for m in schools] == ["truong-hoc-pho-thong"]
    large = {m.slug: m for m in layer_set.manifests if m.large}
    points = [m for m in large.values() if m.geometry_type.value == "Point" and m.source.count >= 1_000_000]  # type: ignore[union-attr]
    lines = [m for m in large.values() if m.geometry_type.value == "LineString" and m.source.count >= 200_000]  # type: ignore[union-attr]
    assert points and lines


def _write(root: Path, rel: str, data: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_problems_name_the_file_and_the_field(tmp_path: Path, layer_set: LayerSet) -> None:
    _write(
        tmp_path, "categories.yaml", [{"id": "education", "title_vi": "Giáo dục", "title_en": "Education"}]
    )
    good = yaml.safe_load((LAYERS_DIR / "education" / "truong-mam-non.yaml").read_text(encoding="utf-8"))
    _write(tmp_path, "education/truong-mam-non.yaml", good)
    _write(tmp_path, "education/bad-category.yaml", {**good, "slug": "bad-category", "category": "nowhere"})
    _write(tmp_path, "education/extra-key.yaml", {**good, "slug": "extra-key", "colour": "red"})
    _write(tmp_path, "education/not-synthetic.yaml", {**good, "slug": "not-synthetic", "synthetic": False})
    bad_params = {**good, "slug": "bad-params", "source": {**good["source"], "params": {"nmae": "x"}}}
    _write(tmp_path, "education/bad-params.yaml", bad_params)
    _write(tmp_path, "education/wrong-name.yaml", good)
    with pytest.raises(ManifestError) as info:
        load_layer_set(tmp_path)
    found = {(Path(p.file).name, p.field) for p in info.value.problems}
    assert ("bad-category.yaml", "category") in found
    assert ("extra-key.yaml", "colour") in found
    assert ("not-synthetic.yaml", "synthetic") in found
    assert ("bad-params.yaml", "source.generator.points.params.nmae") in found
    assert ("wrong-name.yaml", "slug") in found
    assert all("truong-mam-non.yaml" not in p.file for p in info.value.problems)
    assert "bad-category.yaml: category: Value error, unknown category 'nowhere'" in str(info.value)
    assert "not-synthetic.yaml: synthetic: must be true when the source is a generator" in str(info.value)


def test_json_schema_accepts_every_manifest(layer_set: LayerSet) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = manifest_json_schema()
    assert {"slug", "source", "tiles", "attributes"} <= schema["properties"].keys()
    validator = jsonschema.Draft202012Validator(schema)
    for path in manifest_files()[::6]:  # a sample across categories (all of them take seconds)
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        assert not list(validator.iter_errors(data)), path
    assert list(validator.iter_errors({"slug": "x"}))


def test_generators_produce_the_declared_columns(layer_set: LayerSet) -> None:
    for m in layer_set.manifests:
        if isinstance(m.source, FileSource):
            continue
        frame = generate(m.source, SOURCES, count=min(m.source.count, 40))
        assert set(frame.columns[:-1]) == {a.name for a in m.attributes}, m.slug
        assert frame.crs.to_epsg() == 4326
        assert 0 < len(frame) <= 40, m.slug
        kinds = set(frame.geom_type)
        assert kinds <= {m.geometry_type.value}, (m.slug, kinds)


def test_generators_are_deterministic(layer_set: LayerSet) -> None:
    for slug in (
        "truong-hoc-pho-thong",
        "tram-dung-xe-buyt",
        "cong-vien",
        "chi-gioi-duong-do",
        "luoi-dan-so-1km",
    ):
        source = by_slug(layer_set, slug).source
        first = generate(source, SOURCES)  # type: ignore[arg-type]
        again = generate(source, SOURCES)  # type: ignore[arg-type]
        assert first.to_wkb().equals(again.to_wkb()), slug
        other = generate(source.model_copy(update={"seed": source.seed + 1}), SOURCES)  # type: ignore[union-attr]
        assert not first.drop(columns="geometry").equals(other.drop(columns="geometry")), slug


def _assert_inside_their_wards(frame: object) -> None:
    wards = load_wards(SOURCES)
    geoms = dict(zip(wards.codes, wards.geoms, strict=True))
    for code, group in frame.groupby("ward_code"):  # type: ignore[attr-defined]
        xy = shapely.get_coordinates(group.geometry.array)
        assert shapely.contains_xy(geoms[code], xy[:, 0], xy[:, 1]).all(), code


def test_points_fall_inside_their_ward(layer_set: LayerSet) -> None:
    schools = generate(by_slug(layer_set, "truong-hoc-pho-thong").source, SOURCES)  # type: ignore[arg-type]
    assert len(schools) == 2200
    _assert_inside_their_wards(schools)
    assert schools["name"].str.match(r"^Trường (Tiểu học|THCS|THPT) \w").all()
    stations = generate(by_slug(layer_set, "tram-y-te-phuong-xa").source, SOURCES)  # type: ignore[arg-type]
    assert stations["ward_code"].nunique() == 168
    assert stations["name"].str.startswith("Trạm Y tế ").all()


def test_the_large_layers_have_their_sizes(layer_set: LayerSet) -> None:
    # generation speed is measured by the benchmarks, not asserted here
    manifest = by_slug(layer_set, "dan-cu-ho-gia-dinh")
    households = generate(manifest.source, SOURCES)  # type: ignore[arg-type]
    assert len(households) == 1_000_000 and manifest.large
    _assert_inside_their_wards(households)
    roads = by_slug(layer_set, "doan-duong-bo")
    segments = generate(roads.source, SOURCES)  # type: ignore[arg-type]
    assert len(segments) == 200_000 and roads.large
    assert set(segments.geom_type) == {"LineString"}


def test_search_text_is_folded(layer_set: LayerSet) -> None:
    m = by_slug(layer_set, "truong-hoc-pho-thong")
    text = sync.search_text(m, layer_set.category_map[m.category])
    assert text == fold(text)
    assert "truong hoc pho thong" in text and "so giao duc va dao tao" in text and "giao duc" in text


def test_source_checksums(layer_set: LayerSet) -> None:
    school = by_slug(layer_set, "truong-hoc-pho-thong")
    checksum = sync.source_checksum(school, SOURCES)
    assert checksum == sync.source_checksum(school, SOURCES)
    reseeded = school.model_copy(update={"source": school.source.model_copy(update={"seed": 1})})
    assert sync.source_checksum(reseeded, SOURCES) != checksum
    market = by_slug(layer_set, "cho-osm")
    assert sync.source_checksum(market, SOURCES) != sync.source_checksum(
        by_slug(layer_set, "ngan-hang-osm"), SOURCES
    )


def test_file_sources_are_filtered_and_shaped(layer_set: LayerSet) -> None:
    markets = sync.source_frame(by_slug(layer_set, "cho-osm"), SOURCES)
    assert len(markets) == 13 and set(markets.geom_type) == {"Point"}
    assert set(markets["amenity"]) == {"marketplace"}
    assert "Chợ Bình Tây" in set(markets["name"])
    assert list(markets.columns[:3]) == ["name", "name_en", "osm_id"]
    wards = sync.source_frame(by_slug(layer_set, "ranh-gioi-phuong-xa-2025"), SOURCES)
    assert len(wards) == 168 and set(wards.geom_type) == {"MultiPolygon"}
    assert wards["area_km2"].dtype == "float64"


def test_data_step_fails_loudly_without_the_ingest_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, sync.INGEST_MODULE, None)
    with pytest.raises(sync.IngestUnavailable, match="metadata-only"):
        sync._ingest()
