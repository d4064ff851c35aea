from typing import Any

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.db

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int, parameter: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in resp.text
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    return body


def test_health_reports_postgis_and_migrations(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgis_version"].startswith("3.")
    assert body["migrations"]["at_head"] is True


def test_landing_page_json_and_html(client: httpx.Client) -> None:
    data = client.get("/", headers={"Accept": "application/json"})
    assert data.headers["content-type"].startswith("application/json")
    rels = {link["rel"] for link in data.json()["links"]}
    assert {"self", "service-desc", "service-doc"} <= rels
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text and "/api" in page.text


def test_openapi_at_api(client: httpx.Client) -> None:
    spec = client.get("/api").json()
    assert spec["openapi"].startswith("3.")
    assert "/admin/units" in spec["paths"]


@pytest.mark.parametrize(("day", "count"), [("2026-01-01", 168), ("2025-03-01", 273), ("2024-06-01", 0)])
def test_wards_on_a_date(client: httpx.Client, day: str, count: int) -> None:
    body = client.get("/admin/units", params={"level": "ward", "at": day, "limit": 1000}).json()
    assert body["numberMatched"] == count
    assert len(body["units"]) == count
    assert all(u["level"] == "ward" for u in body["units"])
    if count:
        unit = body["units"][0]
        assert {
            "code",
            "name_vi",
            "name_en",
            "level",
            "parent_code",
            "area_km2",
            "has_geometry",
        } <= unit.keys()


def test_paging_links(client: httpx.Client) -> None:
    body = client.get("/admin/units", params={"level": "ward", "at": "2026-01-01", "limit": 50}).json()
    assert body["numberReturned"] == 50
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "offset=50" in nxt and "level=ward" in nxt
    second = client.get(nxt).json()
    assert {u["code"] for u in second["units"]}.isdisjoint({u["code"] for u in body["units"]})


@pytest.mark.parametrize("q", ["Đa Kao", "da kao", "Da Kao", "da kaoo"])
def test_search_ignores_diacritics_and_tolerates_typos(client: httpx.Client, q: str) -> None:
    body = client.get("/admin/units", params={"at": "2025-03-01", "q": q}).json()
    assert body["units"][0]["code"] == "26737", body["units"][:3]


def test_children_of_a_district(client: httpx.Client) -> None:
    body = client.get("/admin/units", params={"at": "2025-03-01", "parent": "760", "level": "ward"}).json()
    assert body["numberMatched"] == 10  # District 1 had 10 wards in 2025
    assert all(u["parent_code"] == "760" for u in body["units"])


def test_one_unit_with_geometry_depends_on_the_date(client: httpx.Client) -> None:
    new = client.get("/admin/units/25747", params={"at": "2026-01-01"}).json()
    assert new["type"] == "Feature"
    assert new["properties"]["name_vi"] == "Thủ Dầu Một"
    assert new["geometry"]["type"] == "MultiPolygon"
    assert new["source"]["licence"] == "MIT"
    # Tân Định's code 26734 names a pre-reform ward and (reused) a post-reform one
    old = client.get("/admin/units/26734", params={"at": "2025-03-01"}).json()
    assert old["properties"]["parent_code"] == "760"
    assert old["geometry"] is None and old["properties"]["has_geometry"] is False
    district = client.get("/admin/units/760", params={"at": "2025-03-01"}).json()
    assert district["properties"]["level"] == "district"
    assert district["geometry"]["type"] == "MultiPolygon"


def test_bad_input_is_a_problem_naming_the_parameter(client: httpx.Client) -> None:
    assert_problem(client.get("/admin/units", params={"level": "province"}), 422, "level")
    assert_problem(client.get("/admin/units", params={"at": "2025-13-45"}), 422, "at")
    assert_problem(client.get("/admin/units", params={"at": "yesterday"}), 422, "at")
    assert_problem(client.get("/admin/units", params={"limit": 0}), 422, "limit")
    assert_problem(client.get("/admin/units", params={"limit": 10**9}), 422, "limit")
    assert_problem(client.get("/admin/units/99999", params={"at": "2026-01-01"}), 404, "code")
    assert_problem(client.get("/admin/units/25747", params={"at": "1990-01-01"}), 404, "code")
    assert_problem(client.get("/admin/units/x';DROP TABLE admin.admin_unit;--"), 422, "code")
    assert_problem(client.get("/no/such/route"), 404)
    # nothing was harmed
    assert (
        client.get("/admin/units", params={"level": "ward", "at": "2026-01-01"}).json()["numberMatched"]
        == 168
    )


def test_q_with_sql_and_like_metacharacters_is_harmless(client: httpx.Client) -> None:
    for q in ["%", "_", "'; DROP TABLE admin.admin_unit; --", "\\", "phường%'"]:
        resp = client.get("/admin/units", params={"q": q, "at": "2026-01-01"})
        assert resp.status_code == 200, (q, resp.text)


def test_unexpected_errors_are_500_problems_without_stack_traces(make_server: Any, db_url: str) -> None:
    def add_failing_route(app: FastAPI) -> None:
        async def boom() -> None:
            raise RuntimeError("secret internal detail")

        app.add_api_route("/boom", boom)

    server = make_server(db_url, app_hook=add_failing_route)
    resp = httpx.get(f"{server.url}/boom", headers={"X-Request-ID": "abc123"})
    body = assert_problem(resp, 500)
    assert "secret internal detail" not in resp.text
    assert body["request_id"] == "abc123"
    assert resp.headers["x-request-id"] == "abc123"


def test_security_headers_and_cors(client: httpx.Client) -> None:
    page = client.get("/", headers={"Accept": "text/html"})
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    data = client.get("/admin/units", headers={"Origin": "https://example.org"})
    assert data.headers["access-control-allow-origin"] == "*"
    assert "content-security-policy" not in data.headers


def test_locate_a_point_on_both_dates(client: httpx.Client) -> None:
    # Nhà thờ Đức Bà (Notre-Dame Cathedral Basilica of Saigon), Bến Nghé ward of District 1 before the reform
    new = client.get(
        "/admin/units/locate", params={"lon": 106.6990, "lat": 10.7798, "at": "2026-01-01"}
    ).json()
    assert new["level"] == "ward" and new["valid_to"] is None
    district = client.get(
        "/admin/units/locate",
        params={"lon": 106.6990, "lat": 10.7798, "at": "2025-03-01", "level": "district"},
    ).json()
    assert district["code"] == "760"
    assert_problem(client.get("/admin/units/locate", params={"lon": 0, "lat": 0, "at": "2026-01-01"}), 404)
    assert_problem(client.get("/admin/units/locate", params={"lon": "nan", "lat": 10}), 422, "lon")
    assert_problem(client.get("/admin/units/locate", params={"lon": 200, "lat": 10}), 422, "lon")


def test_boundaries_geojson(client: httpx.Client) -> None:
    resp = client.get("/admin/boundaries", params={"level": "ward", "at": "2026-01-01"})
    assert resp.headers["content-type"].startswith("application/geo+json")
    fc = resp.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 168
    assert fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    districts = client.get("/admin/boundaries", params={"level": "district", "at": "2025-03-01"}).json()
    assert len(districts["features"]) == 22
    assert (
        client.get("/admin/boundaries", params={"level": "ward", "at": "2024-01-01"}).json()["features"] == []
    )


def test_api_docs_are_served_without_a_cdn(client: httpx.Client) -> None:
    page = client.get("/api.html")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "<script>" not in page.text
    scripts = [line.split('"')[1] for line in page.text.splitlines() if "<script src=" in line]
    assert scripts and all(src.startswith("/static/") for src in scripts)
    for src in scripts:
        assert client.get(src).status_code == 200


def test_answers_vary_on_the_bearer_token_but_static_files_do_not(client: httpx.Client) -> None:
    # internal layers are visible to staff only: no cache may hand a staff answer to anyone else
    listing = client.get("/catalogue/layers", headers={"Accept-Encoding": "gzip"})
    vary = [v.strip().lower() for v in listing.headers["vary"].split(",")]
    assert "authorization" in vary and vary.count("authorization") == 1
    assert "authorization" in client.get("/collections").headers["vary"].lower()
    css = client.get("/static/map/map.css")
    assert css.status_code == 200 and "authorization" not in css.headers.get("vary", "").lower()
