"""The catalogue search API over real HTTP: ranking, filters, paging, details, categories, problems."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from gis_platform.catalogue.manifest import LayerSet, Visibility, load_layer_set
from gis_platform.catalogue.router import router
from gis_platform.catalogue.sync import sync_metadata
from tests.api.test_core_api import assert_problem
from tests.conftest import LiveServer

pytestmark = pytest.mark.db

SCHOOLS = "truong-hoc-pho-thong"


@pytest.fixture(scope="module")
def layer_set() -> LayerSet:
    return load_layer_set()


@pytest.fixture(scope="module")
def public(layer_set: LayerSet) -> list[Any]:
    return [m for m in layer_set.manifests if m.visibility is Visibility.public]


@pytest.fixture(scope="module")
def catalogue_db(db_url: str, layer_set: LayerSet) -> str:
    """The module database with every manifest synced and one published version of the school layer."""
    with psycopg.connect(db_url) as conn:
        sync_metadata(conn, layer_set)
        conn.execute(
            "INSERT INTO catalogue.layer_version (layer_id, version, table_name, status, feature_count, bbox, "
            "checksum, author, published_at) SELECT id, 1, 'test_truong_hoc_pho_thong_v1', 'published', 2200, "
            "ARRAY[106.36, 8.6, 107.5, 11.45], 'abc123', 'tester', now() FROM catalogue.layer WHERE slug = %s",
            (SCHOOLS,),
        )
        conn.execute("UPDATE catalogue.layer SET current_version = 1 WHERE slug = %s", (SCHOOLS,))
        conn.commit()
    return db_url


def _with_catalogue(app: Any) -> None:
    # Until gis_platform/web/app.py includes the catalogue router (the ingest routes share its prefix).
    if not any(getattr(r, "name", None) == "catalogue:layers" for r in app.routes):
        app.include_router(router)


@pytest.fixture(scope="module")
def client(make_server: Callable[..., LiveServer], catalogue_db: str) -> Iterator[httpx.Client]:
    server = make_server(catalogue_db, app_hook=_with_catalogue)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    resp = client.get("/catalogue/layers", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.mark.parametrize("q", ["trường học", "truong hoc", "truong hocc", "Trường Học", "TRUONG  HOC"])
def test_school_search_ignores_diacritics_and_typos(client: httpx.Client, q: str) -> None:
    body = _search(client, q=q)
    assert body["layers"][0]["slug"] == SCHOOLS, [lay["slug"] for lay in body["layers"][:5]]
    assert body["numberMatched"] >= 1


@pytest.mark.parametrize(
    ("q", "slug"),
    [("schools", SCHOOLS), ("tram y te", "tram-y-te-phuong-xa"), ("bệnh viện", "benh-vien"),
     ("giay phep xay dung", "giay-phep-xay-dung"), ("diem ngap", "diem-ngap-do-mua"), ("xe buyt", "tuyen-xe-buyt")],
)  # fmt: skip
def test_other_searches_rank_the_obvious_layer_first(client: httpx.Client, q: str, slug: str) -> None:
    top = [lay["slug"] for lay in _search(client, q=q)["layers"][:3]]
    assert slug in top, top


def test_diacritics_given_are_a_bonus(client: httpx.Client) -> None:
    # "chợ" (market) and "cho" (for) fold alike; typed with its diacritics the query prefers markets.
    assert _search(client, q="chợ")["layers"][0]["slug"] in {"cho-truyen-thong", "cho-osm"}
    assert _search(client, q="chợ")["numberMatched"] == _search(client, q="cho")["numberMatched"]


def test_a_layer_entry(client: httpx.Client) -> None:
    layer = _search(client, q="truong hoc")["layers"][0]
    assert layer["current_version"] == 1 and layer["feature_count"] == 2200
    assert layer["bbox"] == [106.36, 8.6, 107.5, 11.45]
    assert layer["category"] == "education" and layer["agency"] == "Sở Giáo dục và Đào tạo"
    assert layer["synthetic"] is True and layer["licence"] == "MIT" and layer["update_frequency"] == "yearly"
    assert "trường học" in layer["keywords"] and layer["geometry_type"] == "Point"
    links = {link["rel"]: link["href"] for link in layer["links"]}
    assert links["tiles"].endswith(f"/tiles/{SCHOOLS}.json")
    assert links["items"].endswith(f"/collections/{SCHOOLS}/items")
    assert links["collection"].endswith(f"/collections/{SCHOOLS}")
    assert links["enclosure"].endswith(f"/collections/{SCHOOLS}/download")
    assert links["self"].endswith(f"/catalogue/layers/{SCHOOLS}") and links["self"].startswith("http")
    unloaded = _search(client, q="benh vien")["layers"][0]
    assert (
        unloaded["current_version"] is None and unloaded["feature_count"] is None and unloaded["bbox"] is None
    )


def test_filters(client: httpx.Client, public: list[Any]) -> None:
    education = _search(client, category="education", limit=1000)
    assert education["numberMatched"] == sum(m.category == "education" for m in public)
    assert {lay["category"] for lay in education["layers"]} == {"education"}
    areas = _search(client, geometry_type="MultiPolygon", limit=1000)
    assert areas["numberMatched"] == sum(m.geometry_type.value == "MultiPolygon" for m in public) > 10
    assert {lay["geometry_type"] for lay in areas["layers"]} == {"MultiPolygon"}
    real = _search(client, synthetic="false", limit=1000)
    assert real["numberMatched"] == sum(not m.synthetic for m in public) >= 25
    assert all(not lay["synthetic"] for lay in real["layers"])
    for agency in ("Sở Y tế", "so y te"):
        health = _search(client, agency=agency, limit=1000)
        assert health["numberMatched"] == sum(m.agency == "Sở Y tế" for m in public) > 5
    both = _search(client, q="osm", category="food-services", synthetic="false")
    assert both["numberMatched"] == 4 and {lay["category"] for lay in both["layers"]} == {"food-services"}
    assert _search(client, category="no-such-category")["numberMatched"] == 0


def test_internal_layers_are_not_listed(client: httpx.Client, public: list[Any], layer_set: LayerSet) -> None:
    everything = _search(client, limit=1000)
    assert everything["numberMatched"] == len(public) < len(layer_set.manifests)
    slugs = {lay["slug"] for lay in everything["layers"]}
    assert "dan-cu-ho-gia-dinh" not in slugs and "camera-an-ninh" not in slugs
    assert_problem(client.get("/catalogue/layers/dan-cu-ho-gia-dinh"), 404, "slug")


def test_paging_links(client: httpx.Client, public: list[Any]) -> None:
    first = _search(client, limit=50)
    assert first["numberReturned"] == 50 and first["numberMatched"] == len(public)
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "prev" not in rels and "offset=50" in rels["next"] and "limit=50" in rels["next"]
    second = client.get(rels["next"]).json()
    assert {lay["slug"] for lay in second["layers"]}.isdisjoint({lay["slug"] for lay in first["layers"]})
    back = {link["rel"]: link["href"] for link in second["links"]}["prev"]
    assert [lay["slug"] for lay in client.get(back).json()["layers"]] == [
        lay["slug"] for lay in first["layers"]
    ]
    last_offset = len(public) - 10
    last = _search(client, limit=50, offset=last_offset)
    assert last["numberReturned"] == 10 and "next" not in {link["rel"] for link in last["links"]}
    beyond = _search(client, offset=5000)
    assert beyond["layers"] == [] and beyond["numberMatched"] == len(public) and beyond["numberReturned"] == 0
    seen: list[str] = []
    url: str | None = "/catalogue/layers?limit=100"
    while url:
        page = client.get(url).json()
        seen += [lay["slug"] for lay in page["layers"]]
        url = {link["rel"]: link["href"] for link in page["links"]}.get("next")
    assert len(seen) == len(set(seen)) == len(public)


def test_layer_detail_with_versions(client: httpx.Client) -> None:
    resp = client.get(f"/catalogue/layers/{SCHOOLS}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["slug"] == SCHOOLS and body["title_vi"].startswith("Trường học phổ thông")
    assert body["versions"] == [
        {"version": 1, "status": "published", "feature_count": 2200, "checksum": "abc123",
         "created_at": body["versions"][0]["created_at"], "published_at": body["versions"][0]["published_at"],
         "author": "tester"}
    ]  # fmt: skip
    assert {a["name"] for a in body["attributes"]} >= {"name", "students", "level"}
    assert body["tiles"]["cluster_below_zoom"] == 12 and body["style"]["color"].startswith("#")
    assert {link["rel"] for link in body["links"]} == {"self", "tiles", "collection", "items", "enclosure"}
    assert client.get("/catalogue/layers/benh-vien").json()["versions"] == []


def test_unknown_and_malformed_slugs(client: httpx.Client) -> None:
    body = assert_problem(client.get("/catalogue/layers/khong-ton-tai"), 404, "slug")
    assert "khong-ton-tai" in body["detail"]
    assert_problem(client.get("/catalogue/layers/Bad%20Slug!"), 422, "slug")


def test_categories_with_counts(client: httpx.Client, layer_set: LayerSet, public: list[Any]) -> None:
    body = client.get("/catalogue/categories").json()
    assert [c["id"] for c in body["categories"]] == [c.id for c in layer_set.categories]
    expected = Counter(m.category for m in public)
    assert {c["id"]: c["count"] for c in body["categories"]} == {
        c.id: expected[c.id] for c in layer_set.categories
    }
    education = next(c for c in body["categories"] if c["id"] == "education")
    assert education["title_vi"] == "Giáo dục" and education["title_en"] == "Education"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"limit": 0}, "limit"), ({"limit": 10**9}, "limit"), ({"offset": -1}, "offset"),
     ({"geometry_type": "Banana"}, "geometry_type"), ({"synthetic": "maybe"}, "synthetic"),
     ({"category": "Giáo dục; DROP"}, "category"), ({"q": "x" * 201}, "q"), ({"agency": ""}, "agency"),
     ({"q": "truong\x00hoc"}, "q"), ({"agency": "Sở\nY tế"}, "agency")],
)  # fmt: skip
def test_bad_parameters_are_problems(client: httpx.Client, params: dict[str, Any], parameter: str) -> None:
    body = assert_problem(client.get("/catalogue/layers", params=params), 422, parameter)
    assert body["type"] == "/problems/invalid-parameter"


@pytest.mark.parametrize(
    "q",
    [
        "'; DROP TABLE catalogue.layer; --",
        "%' OR 1=1 --",
        "\\",
        "$1",
        "%%",
        "_",
        "truong' hoc",
        "()",
    ],
)
def test_injection_strings_in_q_are_harmless(client: httpx.Client, q: str, public: list[Any]) -> None:
    assert client.get("/catalogue/layers", params={"q": q}).status_code == 200
    assert _search(client, limit=1)["numberMatched"] == len(public)


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    paths = client.get("/api").json()["paths"]
    assert {"/catalogue/layers", "/catalogue/layers/{slug}", "/catalogue/categories"} <= paths.keys()
    names = {p["name"] for p in paths["/catalogue/layers"]["get"]["parameters"]}
    assert names == {"q", "category", "agency", "geometry_type", "synthetic", "limit", "offset"}
