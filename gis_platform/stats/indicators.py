"""The indicator registry: what can be measured per unit, how it rolls up, where it comes from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from gis_platform.stats.census import CENSUS_LICENCE, CENSUS_SOURCE, CENSUS_URL
from gis_platform.stats.synthetic import SYNTHETIC_LICENCE, SYNTHETIC_SOURCE

#: value types whose values can never be negative
NON_NEGATIVE = ("count", "amount", "area", "rate")


@dataclass(frozen=True)
class Indicator:
    """One indicator as stored in ``stats.indicator``."""

    code: str
    name_vi: str
    name_en: str
    unit: str
    aggregation: str  # sum | mean | ratio
    category: str
    source: str
    licence: str
    synthetic: bool
    description: str = ""
    kind: str = "observed"  # observed | geometry | layer | derived
    value_type: str = "count"
    weight_indicator: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    scale: float = 1.0
    levels: tuple[str, ...] = ("ward",)
    source_url: str | None = None
    sort_order: int = 0
    definition: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The indicator as SQL parameters."""
        out = asdict(self)
        out["levels"] = list(self.levels)
        out["definition"] = json.dumps(self.definition, sort_keys=True)
        return out


def _synthetic(code: str, vi: str, en: str, unit: str, category: str, order: int, **kw: Any) -> Indicator:
    return Indicator(code, vi, en, unit, kw.pop("aggregation", "sum"), category, SYNTHETIC_SOURCE,
                     SYNTHETIC_LICENCE, True, sort_order=order, **kw)  # fmt: skip


#: The hotline's 15 fields. Modelled on the categories HCMC's 1022 portal reports (urban
#: infrastructure, order, environment, public services); not checked against an official list.
HOTLINE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("urban_order", "Trật tự đô thị", "Urban order"),
    ("traffic", "Giao thông", "Traffic"),
    ("environment", "Môi trường, rác thải", "Environment and waste"),
    ("drainage", "Thoát nước, ngập", "Drainage and flooding"),
    ("water", "Cấp nước", "Water supply"),
    ("electricity", "Điện, chiếu sáng", "Electricity and street lighting"),
    ("trees", "Cây xanh, công viên", "Trees and parks"),
    ("construction", "Xây dựng", "Construction"),
    ("land_housing", "Đất đai, nhà ở", "Land and housing"),
    ("security", "An ninh trật tự", "Public security"),
    ("health", "Y tế, an toàn thực phẩm", "Health and food safety"),
    ("education", "Giáo dục", "Education"),
    ("social", "Lao động, an sinh xã hội", "Labour and social welfare"),
    ("procedures", "Thủ tục hành chính", "Administrative procedures"),
    ("telecom", "Viễn thông, internet", "Telecommunications"),
)

#: The four pillars of the digital-transformation index (DTI) as scored for districts.
DTI_PILLARS: tuple[tuple[str, str, str], ...] = (
    ("foundation", "Nền tảng chung", "Common foundation"),
    ("government", "Chính quyền số", "Digital government"),
    ("economy", "Kinh tế số", "Digital economy"),
    ("society", "Xã hội số", "Digital society"),
)


def registry() -> list[Indicator]:
    """Every seeded indicator, referenced ones before those that reference them."""
    out = [
        Indicator("population", "Dân số", "Population", "people", "sum", "population", CENSUS_SOURCE,
                  CENSUS_LICENCE, False, source_url=CENSUS_URL, sort_order=1,
                  description="Census population (2009, 2019); wards of Bình Dương and Bà Rịa-Vũng Tàu have "
                              "no open census figures here and carry synthetic values flagged as such."),
        Indicator("area_km2", "Diện tích", "Area", "km²", "sum", "geography",
                  "Computed from the unit's polygon on the WGS84 ellipsoid", "as the boundaries", False,
                  kind="geometry", value_type="area", sort_order=2,
                  description="Area of the unit's polygon (approximate for the 273 pre-reform wards)."),
        Indicator("population_density", "Mật độ dân số", "Population density", "people/km²", "ratio",
                  "population", "Derived: population / area_km2", "as its parts", False, kind="derived",
                  value_type="rate", numerator="population", denominator="area_km2", sort_order=3),
        _synthetic("households", "Số hộ gia đình", "Households", "households", "population", 10,
                   levels=("ward", "neighbourhood")),
        _synthetic("permanent_residents", "Thường trú", "Permanent residence registrations", "people",
                   "residence", 11, levels=("ward", "neighbourhood")),
        _synthetic("temporary_residents", "Tạm trú", "Temporary residence registrations", "people",
                   "residence", 12, levels=("ward", "neighbourhood")),
        _synthetic("welfare_beneficiaries", "Đối tượng bảo trợ xã hội", "Social-welfare beneficiaries",
                   "people", "welfare", 13, levels=("ward", "neighbourhood")),
        _synthetic("military_age_citizens", "Công dân đến tuổi nghĩa vụ quân sự",
                   "Citizens reaching military-service age", "people", "defence", 14,
                   levels=("ward", "neighbourhood")),
        _synthetic("online_procedures", "Hồ sơ dịch vụ công trực tuyến", "Online procedures submitted",
                   "applications", "public_services", 15),
        Indicator("welfare_per_1000", "Đối tượng bảo trợ trên 1.000 dân", "Welfare beneficiaries per 1,000 "
                  "residents", "per 1,000 people", "ratio", "welfare", "Derived: welfare_beneficiaries / "
                  "population x 1,000", "as its parts", True, kind="derived", value_type="rate",
                  numerator="welfare_beneficiaries", denominator="population", scale=1000.0, sort_order=16),
    ]  # fmt: skip
    for i, (code, vi, en) in enumerate(HOTLINE_FIELDS):
        out.append(_synthetic(f"hotline_{code}", f"Phản ánh 1022: {vi}", f"1022 hotline feedback: {en}",
                              "reports", "hotline_1022", 30 + i, definition={"field": code}))  # fmt: skip
    for i, (code, vi, en) in enumerate(DTI_PILLARS):
        out.append(_synthetic(f"dti_{code}", f"DTI: {vi}", f"DTI: {en}", "score (0-1)", "dti", 60 + i,
                              aggregation="mean", value_type="score", weight_indicator="population",
                              levels=("district",), definition={"pillar": code}))  # fmt: skip
    return out
