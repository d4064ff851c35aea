"""Bad input never reaches the database as SQL and never yields a 5xx: hypothesis and schemathesis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.features.conftest import PARCELS, POINTS, problem

pytestmark = pytest.mark.db

ITEMS = f"/collections/{POINTS}/items"
INJECTIONS = [
    "'", '"', ";", "--", "/*", "*/", "'; DROP TABLE catalogue.layer; --", "1 OR 1=1", "') OR ('1'='1",
    '"; DELETE FROM catalogue.layer; --', "\\", "%", "1;SELECT pg_sleep(5)", "name' --", "\x00", "\U0001d54f\U0001f4a5",
]  # fmt: skip
PARAMETERS = ["limit", "offset", "bbox", "bbox-crs", "datetime", "filter", "filter-lang", "filter-crs",
              "properties", "sortby", "crs", "f", "name", "value", "day", "active", "name'--", "x\"y"]  # fmt: skip


@pytest.mark.parametrize("parameter", PARAMETERS)
def test_injection_attempts_in_every_parameter(api: httpx.Client, parameter: str) -> None:
    for payload in INJECTIONS:
        resp = api.get(ITEMS, params={parameter: payload})
        assert resp.status_code < 500, (parameter, payload, resp.text[:300])
        if resp.status_code >= 400:
            problem(resp, resp.status_code)
    for path in (
        f"/collections/{POINTS}/items/1'--",
        "/collections/x';--/items",
        f"/collections/{POINTS}%00",
    ):
        assert api.get(path).status_code in (400, 404)
    assert len(api.get("/collections").json()["collections"]) >= 2


def test_numbers_that_are_not_numbers(api: httpx.Client) -> None:
    for bbox in ("1,2,3", "3,2,1,4", "nan,1,2,3", "1,2,inf,4", "a,b,c,d", "1,2,3,4,5", "", "1e999,0,1,1",
                 "-181,0,0,1", "0,0,0,91"):  # fmt: skip
        problem(api.get(ITEMS, params={"bbox": bbox}), 400, "bbox")
    for limit in ("0", "-1", "10001", "1000000000", "1.5", "ten", "", "1e3", "99999999999999999999"):
        problem(api.get(ITEMS, params={"limit": limit}), 400, "limit")
    problem(api.get(ITEMS, params={"offset": "-5"}), 400, "offset")
    problem(api.get(ITEMS, params=[("limit", "5"), ("limit", "6")]), 400, "limit")
    problem(api.get(ITEMS, params={"bbox-crs": "EPSG:4326"}), 400, "bbox-crs")
    problem(api.get(ITEMS, params={"bbox": "0,0,1e8,1e8", "bbox-crs": "EPSG:3405"}), 400, "bbox")


# --- hypothesis: random CQL2 and parameters --------------------------------------------------------

NAMES = st.sampled_from(["name", "kind", "value", "score", "day", "seen_at", "active", "note", "ten_duong", "geom",
                         "fid", "nope", '"na""me"', "Name", "a.b", "x'y"])  # fmt: skip
LITERALS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["TRUE", "false", "NULL", "DATE('2024-01-05')", "TIMESTAMP('2024-01-01T00:00:00Z')",
                     "DATE('2024-99-99')", "POINT(106.7 10.8)", "BBOX(106.6,10.7,106.8,10.85)",
                     "POLYGON((0 0,1 0,1 1,0 0))", "LINESTRING(1 1, 2 2)", "POINT(1e40 1)", "('a','b')"]),
)  # fmt: skip
OPERANDS = st.one_of(NAMES, LITERALS)
BINARY = st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", " div ", "^", " LIKE "])
FUNCS = st.sampled_from(
    ["S_INTERSECTS", "S_WITHIN", "S_CONTAINS", "CASEI", "ACCENTI", "T_AFTER", "FOO", "BBOX"]
)


def _expr(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, BINARY, children).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
        st.tuples(children, st.sampled_from([" AND ", " OR "]), children).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
        children.map(lambda c: f"NOT ({c})"),
        st.tuples(FUNCS, children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
        st.tuples(children, st.lists(LITERALS, max_size=3)).map(lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
        children.map(lambda c: f"{c} IS NOT NULL"),
    )


CQL = st.one_of(st.recursive(OPERANDS, _expr, max_leaves=8), st.text(max_size=60))
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.one_of(st.integers(-3, 20_000).map(str), st.text(max_size=5)),
        "offset": st.one_of(st.integers(-3, 10**10).map(str), st.text(max_size=5)),
        "bbox": st.lists(st.floats(allow_nan=True), min_size=0, max_size=7).map(lambda v: ",".join(map(repr, v))),
        "bbox-crs": st.sampled_from(["EPSG:4326", "EPSG:3857", "EPSG:3405", "OGC:CRS84", "EPSG:1", "x"]),
        "crs": st.sampled_from(["EPSG:4326", "EPSG:3857", "EPSG:3405", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", ""]),
        "datetime": st.one_of(st.text(max_size=25), st.sampled_from(["2024-01-01/..", "../2024-02-01", "2024-01-05"])),
        "sortby": st.lists(st.tuples(st.sampled_from(["", "+", "-", " "]), NAMES), max_size=3).map(
            lambda ks: ",".join(p + n for p, n in ks)
        ),
        "properties": st.lists(NAMES, max_size=3).map(",".join),
        "filter-crs": st.sampled_from(["EPSG:4326", "EPSG:3857", "EPSG:3405", "EPSG:9"]),
        "f": st.sampled_from(["json", "html", "csv", "xml"]),
        "value": st.text(max_size=6),
    },
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cql=CQL, params=PARAMS, lang_json=st.booleans())
def test_random_cql2_and_parameters_never_fail(
    api: httpx.Client, cql: str, params: dict[str, str], lang_json: bool
) -> None:
    query: dict[str, Any] = {**params, "filter": cql}
    if lang_json:
        query["filter-lang"] = "cql2-json"
    resp = api.get(ITEMS, params=query)
    assert resp.status_code < 500, (query, resp.text[:400])
    if resp.status_code >= 400:
        problem(resp, resp.status_code)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_filter=st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
              st.builds(lambda n: {"property": n}, NAMES)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.builds(lambda op, args: {"op": op, "args": args},
                        st.sampled_from(["=", "and", "or", "not", "like", "in", "between", "s_intersects", "isNull",
                                         "casei", "+", "t_after", "zz"]), st.lists(c, max_size=3))),
    max_leaves=10,
))  # fmt: skip
def test_random_cql2_json_never_fails(api: httpx.Client, json_filter: Any) -> None:
    import json

    resp = api.get(ITEMS, params={"filter": json.dumps(json_filter), "filter-lang": "cql2-json"})
    assert resp.status_code < 500, (json_filter, resp.text[:400])


# --- schemathesis over the OpenAPI document -------------------------------------------------------

MINE = ("/conformance", "/collections")


@pytest.fixture(scope="module")
def features_schema(server: Any) -> Any:
    spec = httpx.get(f"{server.url}/api", timeout=30).json()
    spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith(MINE)}
    for item in spec["paths"].values():
        for param in item["get"].get("parameters", []):
            if param["name"] in ("collectionId", "slug"):
                param["schema"] = {"type": "string", "enum": [POINTS, PARCELS, "feat-internal", "nope"]}
            if param["name"] == "featureId":
                param["schema"] = {"type": "string", "pattern": "^-?[0-9]{1,4}$"}
    spec["servers"] = [{"url": server.url}]
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.config.update(base_url=server.url)
    return loaded


def test_openapi_fuzzing_finds_no_server_error(features_schema: Any) -> None:
    # schemathesis' own pytest loader does not support pytest 9 yet: drive its strategies directly
    operations = [result.ok() for result in features_schema.get_all_operations()]
    assert len(operations) >= 7  # the features' own, plus the OGC API - Tiles routes under /collections
    calls: list[int] = []
    for operation in operations:

        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=30)
            calls.append(1)

        call()
    assert len(calls) >= len(operations) * 10
