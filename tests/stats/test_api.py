"""The statistics API on the real app (router included through app_hook until it is wired)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from gis_platform.auth.tokens import create_token
from gis_platform.stats.router import router
from tests.api.test_core_api import assert_problem
from tests.conftest import LiveServer

pytestmark = pytest.mark.db


def _include(app: object) -> None:
    assert isinstance(app, FastAPI)
    app.include_router(router)


@pytest.fixture(scope="module")
def api(make_server: Callable[..., LiveServer], stats_db: str) -> Iterator[httpx.Client]:
    server = make_server(stats_db, app_hook=_include)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def test_indicators(api: httpx.Client) -> None:
    body = api.get("/stats/indicators").json()
    codes = {i["code"]: i for i in body["indicators"]}
    assert {"population", "population_density", "households", "permanent_residents", "temporary_residents",
            "welfare_beneficiaries", "military_age_citizens", "online_procedures"} <= codes.keys()  # fmt: skip
    assert sum(1 for c in codes if c.startswith("hotline_")) == 15
    assert sum(1 for c in codes if c.startswith("dti_")) == 4
    assert codes["population"]["synthetic"] is False and codes["households"]["synthetic"] is True
    assert codes["population_density"]["aggregation"] == "ratio"
    assert codes["dti_economy"]["weight_indicator"] == "population"


@pytest.mark.parametrize(
    ("day", "wards", "method"), [("2025-03-01", 273, "direct"), ("2026-01-01", 168, "mixed")]
)
def test_population_and_density_on_both_dates(api: httpx.Client, day: str, wards: int, method: str) -> None:
    pop = api.get("/stats/values", params={"indicator": "population", "at": day, "period": "2019"}).json()
    assert len(pop["values"]) == wards and pop["missing"] == [] and pop["method"] == method
    density = api.get(
        "/stats/values", params={"indicator": "population_density", "at": day, "period": "2019"}
    ).json()
    assert len(density["values"]) == wards and all(v["value"] > 0 for v in density["values"])
    assert density["method"].startswith("ratio") or density["method"] == "mixed"
    total = sum(v["value"] for v in pop["values"] if not v["synthetic"])
    assert (
        abs(total - 8_564_137) < 1
    )  # the census people placed on 2025-01-01 wards, preserved by the crosswalk


def test_new_wards_say_how_they_were_converted(api: httpx.Client) -> None:
    body = api.get(
        "/stats/values", params={"indicator": "population", "at": "2026-01-01", "period": "2019"}
    ).json()
    assert body["methods"] == {"crosswalk": 102, "direct": 66}
    assert "crosswalk" in body["method_detail"]
    by_method = {v["method"]: v["synthetic"] for v in body["values"]}
    assert by_method == {"crosswalk": False, "direct": True}


def test_values_rolled_up_and_converted_backwards(api: httpx.Client) -> None:
    new = api.get(
        "/stats/values", params={"indicator": "households", "at": "2026-01-01", "period": "2025"}
    ).json()
    assert new["method"] == "rollup" and len(new["values"]) == 168
    old = api.get(
        "/stats/values", params={"indicator": "households", "at": "2025-03-01", "period": "2025"}
    ).json()
    assert old["method"] == "crosswalk" and len(old["values"]) == 273
    hcmc_new = sum(v["value"] for v in new["values"] if v["unit_code"] >= "26734")
    assert abs(sum(v["value"] for v in old["values"]) - hcmc_new) / hcmc_new < 0.01
    city = api.get(
        "/stats/values", params={"indicator": "dti_society", "level": "city", "at": "2025-03-01"}
    ).json()
    assert city["method"] == "rollup" and 0 < city["values"][0]["value"] < 1


@pytest.mark.parametrize("scheme", ["quantiles", "equal_interval", "fisher_jenks", "natural_breaks"])
def test_choropleth(api: httpx.Client, scheme: str) -> None:
    params: dict[str, Any] = {"indicator": "population_density", "at": "2025-03-01", "period": "2019",
                              "scheme": scheme, "k": 6}  # fmt: skip
    body = api.get("/stats/choropleth", params=params).json()
    assert len(body["breaks"]) == 6 and len(body["colors"]) == 6 and len(body["legend"]) == 6
    assert body["breaks"] == sorted(body["breaks"]) and len(body["classes"]) == 273
    assert sum(e["count"] for e in body["legend"]) == 273
    assert all(c.startswith("#") for c in body["colors"])


def test_ward_profile(api: httpx.Client) -> None:
    body = api.get("/stats/units/26737", params={"at": "2025-03-01"}).json()
    assert body["unit"]["name_vi"] == "Đa Kao" and body["unit"]["geom_quality"] == "approximate"
    series = {i["code"]: i["series"] for i in body["indicators"]}
    assert [(p["period"], p["value"]) for p in series["population"]] == [("2009", 19122.0), ("2019", 14970.0)]
    assert [p["period"] for p in series["online_procedures"]][:2] == ["2024-Q1", "2024-Q2"]
    assert {p["method"] for p in series["households"]} == {"direct", "crosswalk"}
    assert body["layers"] == []
    kp = api.get("/stats/units/26737-KP01", params={"at": "2026-01-01"}).json()
    assert kp["unit"]["level"] == "neighbourhood"


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter"),
    [
        ("/stats/values", {"indicator": "nope", "at": "2025-03-01"}, 404, "indicator"),
        ("/stats/values", {"indicator": "population", "at": "2025-03-01", "period": "2030"}, 404, "period"),
        ("/stats/values", {"indicator": "population", "at": "2025-03-01", "period": "20x9"}, 422, "period"),
        ("/stats/values", {"indicator": "population", "at": "2019-01-01"}, 404, "at"),
        ("/stats/values", {"indicator": "population", "level": "galaxy"}, 422, "level"),
        ("/stats/choropleth", {"indicator": "population", "at": "2025-03-01", "k": 12}, 422, "k"),
        (
            "/stats/choropleth",
            {"indicator": "population", "at": "2025-03-01", "scheme": "pretty"},
            422,
            "scheme",
        ),
        ("/stats/units/99999", {"at": "2025-03-01"}, 404, "code"),
    ],
)
def test_bad_requests_are_problems(
    api: httpx.Client, path: str, params: dict[str, Any], status: int, parameter: str
) -> None:
    assert_problem(api.get(path, params=params), status, parameter)


@pytest.fixture(scope="module")
def tokens(stats_db: str) -> dict[str, str]:
    with psycopg.connect(stats_db) as conn:
        editor, _ = create_token(conn, name="stats-editor", role="editor")
        viewer, _ = create_token(conn, name="stats-viewer", role="viewer")
    return {"editor": editor, "viewer": viewer}


def _post(api: httpx.Client, token: str | None, text: str, **form: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = {"indicator": "online_procedures", "period": "2025-Q1", **form}
    return api.post("/stats/observations", headers=headers, data=data,
                    files={"file": ("wards.csv", text.encode(), "text/csv")})  # fmt: skip


def _count(url: str, period: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM stats.observation WHERE indicator_code = 'online_procedures' "
                           "AND period = %s", (period,)).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def test_post_observations_needs_an_editor(api: httpx.Client, tokens: dict[str, str]) -> None:
    text = "unit_code,value\n26734,5\n"
    assert_problem(_post(api, None, text), 401)
    assert_problem(_post(api, tokens["viewer"], text), 403)


def test_post_observations_writes_all_rows_or_none(
    api: httpx.Client, tokens: dict[str, str], stats_db: str
) -> None:
    before = _count(stats_db, "2025-Q1")
    bad = _post(
        api, tokens["editor"], "unit_name,parent_name,value\nPhường 9,Quận 10,5\nĐa Kao,,x\nĐa Kao,,6\n"
    )
    body = assert_problem(bad, 422)
    assert [e["row"] for e in body["errors"]] == [3]
    assert _count(stats_db, "2025-Q1") == before
    dry = _post(api, tokens["editor"], "unit_code,value\n26734,5\n26737,6\n", dry_run="true")
    assert dry.status_code == 200 and dry.json()["matched"] == 2 and _count(stats_db, "2025-Q1") == before
    ok = _post(api, tokens["editor"], "unit_code,value\n26734,5\n26737,6\n")
    assert ok.status_code == 200, ok.text
    report = ok.json()
    assert report["written"] == {"inserted": 0, "updated": 2} and report["import_run"] > 0
    values = api.get("/stats/values", params={"indicator": "online_procedures", "at": "2025-03-01",
                                              "period": "2025-Q1"}).json()  # fmt: skip
    assert {v["unit_code"]: v["value"] for v in values["values"]}["26734"] == 5


@pytest.mark.parametrize(
    ("form", "status", "parameter"),
    [({"indicator": "nope"}, 404, "indicator"), ({"period": "2025-Q9"}, 400, "period"),
     ({"indicator": "population_density"}, 400, "indicator")],
)  # fmt: skip
def test_post_observations_bad_requests(
    api: httpx.Client, tokens: dict[str, str], form: dict[str, str], status: int, parameter: str
) -> None:
    assert_problem(_post(api, tokens["editor"], "unit_code,value\n26734,5\n", **form), status, parameter)
