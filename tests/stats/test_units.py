"""Pure functions of the statistics: no database."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from gis_platform.errors import InvalidParameter
from gis_platform.stats.census import CensusRow, match_census, name_key
from gis_platform.stats.choropleth import YLORRD, Scheme, classify
from gis_platform.stats.crosswalk import (
    CrosswalkInvalid,
    Share,
    apply_edits,
    estimate_shares,
    parse_share_csv,
)
from gis_platform.stats.derive import Pair, approximate_old_wards
from gis_platform.stats.neighbourhoods import Ward, counts, subdivide_ward
from gis_platform.stats.observations import Candidate, ObservationsInvalid, UnitIndex, plan_import, read_table
from gis_platform.stats.periods import is_period, period_bounds
from gis_platform.stats.resolve import Dataset, Resolver, Rule
from gis_platform.stats.subdivide import split


def test_split_tiles_the_polygon_with_areas_by_weight() -> None:
    poly = shapely.Polygon([(0, 0), (4, 0), (4, 1), (2, 3), (0, 1)])
    parts = split(poly, [1, 2, 3, 4])
    assert len(parts) == 4 and all(p.is_valid and not p.is_empty for p in parts)
    assert abs(sum(p.area for p in parts) - poly.area) < 1e-9
    assert abs(shapely.union_all(parts).area - poly.area) < 1e-9  # no overlaps
    for p, w in zip(parts, [0.1, 0.2, 0.3, 0.4], strict=True):
        assert abs(p.area / poly.area - w) < 0.03
    assert [p.wkb for p in split(poly, [1, 2, 3, 4])] == [p.wkb for p in parts]  # deterministic


def test_approximate_wards_exact_for_single_pieces_and_split_for_shared() -> None:
    new = {"N1": shapely.box(0, 0, 2, 1), "N2": shapely.box(2, 0, 3, 1)}
    districts = {"D1": shapely.box(0, 0, 1, 1), "D2": shapely.box(1, 0, 3, 1)}
    old = {"a": "D1", "b": "D2", "c": "D2", "d": "D2"}
    pairs = [Pair("a", "N1", "whole"), Pair("b", "N1", "whole"), Pair("c", "N2", "partial"),
             Pair("d", "N2", "partial"), Pair("c", "N1", "partial")]  # fmt: skip
    out = approximate_old_wards(new, districts, old, pairs, {"a": 10, "b": 10, "c": 20, "d": 10})
    assert out.geoms["a"].equals(shapely.box(0, 0, 1, 1))  # alone in its piece: exact
    assert out.geoms["b"].within(new["N1"].buffer(1e-9))
    assert abs(sum(g.area for g in out.geoms.values()) - 3.0) < 1e-9
    shares = estimate_shares(pairs, out.piece_area, {"a": 10, "b": 10, "c": 20, "d": 10})
    by_old: dict[str, float] = {}
    by_new: dict[str, float] = {}
    for s in shares:
        by_old[s.old_code] = by_old.get(s.old_code, 0) + s.share_old
        by_new[s.new_code] = by_new.get(s.new_code, 0) + s.share_new
    assert all(abs(v - 1) < 1e-9 for v in [*by_old.values(), *by_new.values()])
    assert next(s for s in shares if s.old_code == "a").method == "whole"


def test_neighbourhood_counts_known_and_scaled() -> None:
    da_kao = Ward(
        "26737", "hcmc-wards-2025-01-01", "Phường Đa Kao", "Phường", shapely.box(0, 0, 0.01, 0.01), 15000
    )
    assert len(counts(da_kao)) == 8 and sum(counts(da_kao)) == 96
    units = list(subdivide_ward(da_kao))
    kps = [u for u in units if u.level == "neighbourhood"]
    assert [u.code for u in kps][:2] == ["26737-KP01", "26737-KP02"] and kps[0].name_vi == "Khu phố 1"
    assert sum(1 for u in units if u.level == "residential_group") == 96
    big = Ward("1", "v", "Xã X", "Xã", shapely.box(0, 0, 0.1, 0.1), 50_000)
    assert len(counts(big)) == 10 and next(iter(subdivide_ward(big))).name_vi == "Ấp 1"


def test_census_matching_by_code_then_name_within_district() -> None:
    wards = [{"code": "1", "full_name_vi": "Phường 5", "parent_code": "770"},
             {"code": "2", "full_name_vi": "Phường Võ Thị Sáu", "parent_code": "770"}]  # fmt: skip
    rows = [CensusRow(2, "1", "Phường 05", "770", "Quận 3", 10, 20),
            CensusRow(3, "9", "Phường 5", "770", "Quận 3", 1, 2),  # code gone: by name
            CensusRow(4, "2", "Phường 06", "770", "Quận 3", 5, 6),  # renamed, same code
            CensusRow(5, "8", "Phường 07", "770", "Quận 3", 7, 7)]  # fmt: skip
    m = match_census(rows, wards)
    assert m.population["2019"] == {"1": 22, "2": 6}
    assert m.report["matched_by"] == {"code": 1, "code (renamed or merged)": 1, "name within district": 1}
    assert [u["row"] for u in m.report["unmatched"]] == [5]
    assert name_key("Phường  05") == name_key("phuong 5")


def test_periods() -> None:
    assert period_bounds("2024-Q3")[0].isoformat() == "2024-07-01"
    assert period_bounds("2024-02")[1].isoformat() == "2024-02-29"
    assert is_period("2019") and not is_period("2024-Q5") and not is_period("24")


def _data() -> Dataset:
    rules = {
        "pop": Rule("pop", "sum"),
        "score": Rule("score", "mean", weight_indicator="pop"),
        "area": Rule("area", "sum", kind="geometry"),
        "density": Rule("density", "ratio", kind="derived", numerator="pop", denominator="area"),
        "cnt": Rule("cnt", "sum"),
        "per_1000": Rule("per_1000", "ratio", kind="derived", numerator="cnt", denominator="pop", scale=1000),
    }
    data = Dataset(rules)
    obs: list[dict[str, Any]] = [
        {"indicator_code": "pop", "boundary_version": "old", "level": "ward", "unit_code": c, "period": "2019",
         "value": v, "synthetic": False} for c, v in (("a", 100), ("b", 300))
    ] + [
        {"indicator_code": "score", "boundary_version": "old", "level": "ward", "unit_code": c, "period": "2019",
         "value": v, "synthetic": True} for c, v in (("a", 1.0), ("b", 3.0))
    ] + [
        {"indicator_code": "cnt", "boundary_version": "old", "level": "ward", "unit_code": c, "period": "2024",
         "value": v, "synthetic": False} for c, v in (("a", 10), ("b", 30))
    ]  # fmt: skip
    data.add_observations(obs)
    data.add_crosswalk([
        {"from_version": "old", "to_version": "new", "old_code": "a", "new_code": "X", "share_old": 1.0, "share_new": 0.4},
        {"from_version": "old", "to_version": "new", "old_code": "b", "new_code": "X", "share_old": 0.5, "share_new": 0.6},
        {"from_version": "old", "to_version": "new", "old_code": "b", "new_code": "Y", "share_old": 0.5, "share_new": 1.0},
    ])  # fmt: skip
    data.area[("new", "ward", "X")] = 2.0
    return data


def test_resolver_converts_counts_means_and_ratios() -> None:
    r = Resolver(_data())
    x = ("new", "ward", "X")
    pop = r.value("pop", x, "2019")
    assert pop is not None and pop.value == 250 and pop.method == "crosswalk" and not pop.synthetic
    score = r.value("score", x, "2019")  # weights: a 100 x 1.0, b 300 x 0.5
    assert score is not None and abs(score.value - (100 * 1 + 150 * 3) / 250) < 1e-9 and score.synthetic
    density = r.value("density", x, "2019")
    assert density is not None and density.value == 125 and density.method == "ratio (crosswalk / geometry)"
    rate = r.value("per_1000", x, "2024")  # no 2024 population: the 2019 one, and it says so
    assert rate is not None and rate.value == 25 / 250 * 1000 and rate.note == "pop of 2019"
    back = r.value("pop", ("old", "ward", "a"), "2019")
    assert back is not None and back.method == "direct"
    assert r.value("pop", ("new", "ward", "Z"), "2019") is None


@pytest.mark.parametrize("scheme", list(Scheme))
@pytest.mark.parametrize("k", [2, 5, 9])
def test_choropleth_classes(scheme: Scheme, k: int) -> None:
    values = [float(v * v % 97 + v) for v in range(60)]
    c = classify(values, scheme, k)
    assert len(c.breaks) == k and c.colors == list(YLORRD[k]) and sum(c.counts) == 60
    assert c.breaks == sorted(c.breaks) and c.breaks[-1] == max(values)
    assert classify(values, scheme, k) == c  # deterministic, natural_breaks included


def test_choropleth_rejects_bad_k() -> None:
    with pytest.raises(InvalidParameter):
        classify([1.0, 2.0, 3.0], Scheme.quantiles, 5)
    with pytest.raises(InvalidParameter):
        classify([float(i) for i in range(20)], Scheme.quantiles, 10)


def _index() -> UnitIndex:
    return UnitIndex([
        Candidate("27001", "v", "ward", "Phường 9", "Phường 9", "770", "Quận 3", "Quận 3"),
        Candidate("27002", "v", "ward", "Phường 9", "Phường 9", "772", "Quận 11", "Quận 11"),
        Candidate("27003", "v", "ward", "Đa Kao", "Phường Đa Kao", "760", "Quận 1", "Quận 1"),
    ])  # fmt: skip


def _plan(text: str, allow_partial: bool = False) -> Any:
    columns, rows = read_table(text.encode(), "f.csv")
    return plan_import(columns, rows, _index(), value_type="count", allow_partial=allow_partial)


def test_import_plan_matches_codes_and_names() -> None:
    plan = _plan("unit_name,parent_name,value\nphuong 9,quan 11,5\nDa Kao,,7\n")
    assert [(r["unit_code"], r["value"]) for r in plan.rows] == [("27002", 5.0), ("27003", 7.0)]


@pytest.mark.parametrize(
    ("text", "rows", "message"),
    [
        ("unit_code,amount\n27001,1\n", [1], "missing columns"),
        ("value\n1\n", [1], "missing columns"),
        ("unit_code,value\n27001,abc\n27003,2\n", [2], "not a number"),
        ("unit_code,value\n27001,-4\n", [2], "negative"),
        ("unit_code,value\n27001,1\n27003,2\n27001,3\n", [4], "duplicated"),
        ("unit_name,value\nPhường 9,1\n", [2], "ambiguous"),
        ("unit_code,value\n99999,1\n27003,1\n", [2], "unmatched"),
    ],
)
def test_import_plan_rejects_bad_rows_with_row_numbers(text: str, rows: list[int], message: str) -> None:
    with pytest.raises(ObservationsInvalid) as err:
        _plan(text)
    assert message in err.value.detail
    assert [e.get("row") for e in err.value.extensions["errors"]] == rows


def test_import_plan_partial() -> None:
    plan = _plan("unit_code,value\n99999,1\n27003,1\n", allow_partial=True)
    assert len(plan.rows) == 1 and plan.report["unmatched"][0]["row"] == 2


def test_crosswalk_csv_edits() -> None:
    current = [
        Share("a", "X", "partial", 0.5, 0.5, "area", "area"),
        Share("a", "Y", "partial", 0.5, 1, "area", "area"),
    ]
    with pytest.raises(CrosswalkInvalid) as err:
        apply_edits(current, parse_share_csv(b"old_code,new_code,share\na,X,0.3\n"))
    assert {e["error"] for e in err.value.extensions["errors"]} >= {"shares sum to 0.300000, not 1"}
    with pytest.raises(CrosswalkInvalid) as err:
        parse_share_csv(b"old_code,new_code,share\na,X,x\na,Y,2\n")
    assert [e["row"] for e in err.value.extensions["errors"]] == [2, 3]
    edited = apply_edits(current, parse_share_csv(b"old_code,new_code,share\na,X,0.3\na,Y,0.7\n"))
    assert [(s.share_old, s.method) for s in edited] == [(0.3, "editor"), (0.7, "editor")]
