"""Landing links, conformance, collections and queryables."""

from __future__ import annotations

import httpx
import pytest

from tests.features.conftest import N_POINTS, PARCELS, POINTS, problem

pytestmark = pytest.mark.db

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def rels(links: list[dict[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for link in links:
        out.setdefault(link["rel"], []).append(link["href"])
    return out


def test_landing_links_to_conformance_and_collections(api: httpx.Client) -> None:
    links = rels(api.get("/", headers={"Accept": "application/json"}).json()["links"])
    assert links["conformance"][0].endswith("/conformance")
    assert [h.rsplit("/", 1)[1] for h in links["data"]] == ["collections"]
    page = api.get("/", headers={"Accept": "text/html"}).text
    assert "/collections" in page and "/conformance" in page


def test_conformance_claims(api: httpx.Client) -> None:
    body = api.get("/conformance").json()
    classes = set(body["conformsTo"])
    for needed in (
        "ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson", "ogcapi-features-1/1.0/conf/html",
        "ogcapi-features-1/1.0/conf/oas30", "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-features-3/1.0/conf/queryables",
        "ogcapi-features-3/1.0/conf/queryables-query-parameters", "cql2/1.0/conf/basic-cql2",
        "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-spatial-functions",
    ):  # fmt: skip
        assert f"http://www.opengis.net/spec/{needed}" in classes
    assert not any("temporal-functions" in c or "array-functions" in c for c in classes)
    html = api.get("/conformance", params={"f": "html"})
    assert html.headers["content-type"].startswith("text/html") and "basic-cql2" in html.text


def test_collections_lists_only_published_public_layers(api: httpx.Client) -> None:
    body = api.get("/collections").json()
    ids = {c["id"] for c in body["collections"]}
    assert {POINTS, PARCELS} <= ids
    assert "feat-internal" not in ids and "feat-unpublished" not in ids
    assert CRS84 in body["crs"]
    assert {"self", "alternate"} <= rels(body["links"]).keys()


def test_collection_document(api: httpx.Client) -> None:
    doc = api.get(f"/collections/{POINTS}").json()
    assert doc["id"] == POINTS and doc["title"] == "Feature test points" and doc["itemType"] == "feature"
    bbox = doc["extent"]["spatial"]["bbox"][0]
    assert doc["extent"]["spatial"]["crs"] == CRS84
    assert 106.6 <= bbox[0] < bbox[2] <= 106.8 and 10.7 <= bbox[1] < bbox[3] <= 10.85
    assert doc["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00Z", "2024-04-09T00:00:00Z"]]
    assert doc["storageCrs"] == CRS84
    assert set(doc["crs"]) == {
        CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326", "http://www.opengis.net/def/crs/EPSG/0/3857",
        "http://www.opengis.net/def/crs/EPSG/0/3405",
    }  # fmt: skip
    assert doc["featureCount"] == N_POINTS
    links = rels(doc["links"])
    assert any(h.endswith(f"/collections/{POINTS}/items") for h in links["items"])
    assert links["http://www.opengis.net/def/rel/ogc/1.0/queryables"][0].endswith("/queryables")
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"][0].endswith(
        f"/collections/{POINTS}/tiles"
    )
    assert links["http://www.opengis.net/def/rel/ogc/1.0/styles"][0].endswith(f"/styles/{POINTS}.json")
    assert {h.rsplit("=", 1)[1] for h in links["enclosure"]} == {"geojson", "csv", "gpkg", "shp"}
    parcels = api.get(f"/collections/{PARCELS}").json()
    assert "temporal" not in parcels["extent"]


def test_collection_html(api: httpx.Client) -> None:
    page = api.get(f"/collections/{POINTS}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "Feature test points" in page.text and "<script" not in page.text


def test_queryables_schema(api: httpx.Client) -> None:
    resp = api.get(f"/collections/{POINTS}/queryables")
    assert resp.headers["content-type"].startswith("application/schema+json")
    schema = resp.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/collections/{POINTS}/queryables")
    props = schema["properties"]
    assert props["geom"]["format"] == "geometry-point" and props["geom"]["x-ogc-role"] == "primary-geometry"
    assert props["value"]["type"] == "integer" and props["score"]["type"] == "number"
    assert props["day"] == {"title": "day", "type": "string", "format": "date"}
    assert props["seen_at"]["format"] == "date-time" and props["active"]["type"] == "boolean"
    assert props["ten_duong"] == {"title": "Tên đường", "type": "string"}
    parcels = api.get(f"/collections/{PARCELS}/queryables").json()
    assert parcels["properties"]["geom"]["format"] == "geometry-polygon"
    assert "Tên đường" in api.get(f"/collections/{POINTS}/queryables", params={"f": "html"}).text


@pytest.mark.parametrize(
    "slug", ["nope", "feat-internal", "feat-unpublished", "x" * 300, "'; DROP TABLE x; --"]
)
def test_unknown_or_hidden_collection_is_404(api: httpx.Client, slug: str) -> None:
    for suffix in ("", "/items", "/queryables", "/items/1", "/download"):
        problem(api.get(f"/collections/{slug}{suffix}"), 404)


def test_metadata_rejects_unknown_parameters_and_formats(api: httpx.Client) -> None:
    problem(api.get("/collections", params={"foo": "1"}), 400, "foo")
    problem(api.get(f"/collections/{POINTS}", params={"f": "xml"}), 400, "f")
    problem(api.get("/conformance", params={"f": "csv"}), 400, "f")


def test_openapi_documents_the_endpoints(api: httpx.Client) -> None:
    spec = api.get("/api").json()
    paths = spec["paths"]
    for path in ("/conformance", "/collections", "/collections/{collectionId}", "/collections/{collectionId}/items",
                 "/collections/{collectionId}/items/{featureId}", "/collections/{collectionId}/queryables",
                 "/collections/{collectionId}/download"):  # fmt: skip
        assert path in paths
    names = {p["name"] for p in paths["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert {
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "datetime",
        "filter",
        "filter-lang",
        "crs",
        "sortby",
    } <= names
