"""Vietnamese names and attribute values for synthetic layers, drawn vectorised from a numpy generator.

Name templates use ``str.format`` fields: ``{person}`` (a historical figure, as in school and street
names), ``{fullname}`` (a random person), ``{company}``, ``{place}``, ``{street}`` (``Đường …``),
``{flower}`` (kindergarten names), ``{ward}`` (``Phường Tân Định``), ``{ward_name}``, ``{ward_code}``,
``{hamlet}`` (``Khu phố``/``Ấp``), ``{n}`` (number within the ward), ``{seq}`` (number in the layer),
``{num}`` (a house number), ``{letter}``, ``{year}`` (2015-2025) and any attribute drawn before the
template; format specs work as usual (``{seq:05d}``).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from gis_platform.catalogue.params import TEMPLATE_FIELDS, AttrSpec

PERSONS = (
    "Nguyễn Bỉnh Khiêm", "Lê Quý Đôn", "Chu Văn An", "Nguyễn Du", "Trần Hưng Đạo", "Lê Lợi", "Nguyễn Trãi",
    "Hai Bà Trưng", "Lý Thường Kiệt", "Ngô Quyền", "Đinh Tiên Hoàng", "Trần Quốc Toản", "Quang Trung",
    "Nguyễn Huệ", "Lê Thánh Tông", "Nguyễn Đình Chiểu", "Phan Chu Trinh", "Phan Bội Châu", "Võ Thị Sáu",
    "Nguyễn Thị Minh Khai", "Lê Văn Tám", "Kim Đồng", "Nguyễn Văn Trỗi", "Trần Phú", "Hoàng Hoa Thám",
    "Nguyễn Thái Học", "Võ Văn Tần", "Tôn Đức Thắng", "Huỳnh Thúc Kháng", "Trần Quang Khải", "Lê Hồng Phong",
    "Nguyễn Văn Cừ", "Mạc Đĩnh Chi", "Bùi Thị Xuân", "Nguyễn Khuyến", "Tô Hiến Thành", "Lương Thế Vinh",
    "Trần Đại Nghĩa", "Đoàn Thị Điểm", "Nguyễn Hiền", "Lê Văn Sỹ", "Phạm Ngọc Thạch", "Hùng Vương",
    "An Dương Vương", "Trương Định", "Nguyễn Trung Trực", "Thủ Khoa Huân", "Trương Vĩnh Ký", "Võ Trường Toản",
    "Lê Anh Xuân", "Nguyễn An Ninh", "Nguyễn Hữu Cảnh", "Trịnh Hoài Đức", "Phạm Văn Đồng", "Nguyễn Văn Linh",
    "Võ Văn Kiệt", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Nam Kỳ Khởi Nghĩa", "Lý Tự Trọng", "Yersin",
    "Nguyễn Tri Phương", "Hồ Tùng Mậu", "Trần Văn Ơn", "Lê Thị Riêng", "Nguyễn Văn Tăng", "Phan Đăng Lưu",
    "Nguyễn Gia Thiều", "Nguyễn Thượng Hiền", "Tô Ngọc Vân", "Bạch Đằng", "Lạc Long Quân", "Âu Cơ",
    "Nguyễn Thị Định", "Hoàng Diệu", "Nguyễn Công Trứ", "Lê Đình Chinh", "Trần Cao Vân", "Ngô Gia Tự",
)  # fmt: skip
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
            "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lâm", "Mai")  # fmt: skip
SURNAME_WEIGHTS = (38, 11, 9, 7, 5, 5, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0.5, 0.5)
MIDDLES = ("Văn", "Thị", "Minh", "Hữu", "Đức", "Thanh", "Ngọc", "Quốc", "Thị Kim", "Hoàng", "Gia", "Bảo")
GIVEN = (
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Khánh", "Lan", "Linh",
    "Long", "Mai", "Nam", "Nga", "Phúc", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Thành", "Trang", "Tuấn",
    "Vy", "Yến", "Trí", "Nhân", "Hiếu", "Thư", "Vân", "Tài", "Lộc", "Duy", "Khoa", "Ngân", "Quyên", "Tùng",
)  # fmt: skip
COMPANIES = (
    "Phú Mỹ", "Hòa Bình", "An Phát", "Thành Công", "Đại Việt", "Sài Gòn", "Nam Long", "Tân Hiệp",
    "Hưng Thịnh", "Vạn Phúc", "Bình Minh", "Phương Nam", "Gia Định", "Đông Á", "Thuận Phát", "Kim Long",
    "Trường Sơn", "Hoàng Quân", "Sông Đà", "Hiệp Phước", "Bến Nghé", "Cửu Long", "Thiên Phú", "Việt Hưng",
)  # fmt: skip
PLACES = (
    "Bình An", "Tân Phú", "Phú Lợi", "Hòa Hưng", "An Khánh", "Tân Thuận", "Long Phước", "Bến Thành",
    "Xóm Củi", "Rạch Chiếc", "Thanh Đa", "Bàu Cát", "Hiệp Bình", "Tam Bình", "Vĩnh Lộc", "Phước Kiển",
    "Bà Điểm", "Tân Kiên", "Lái Thiêu", "Dầu Tiếng", "Long Hải", "Phú Mỹ", "Bến Cát", "Cần Giờ",
)  # fmt: skip
FLOWERS = (
    "Hoa Sen", "Sơn Ca", "Họa Mi", "Hoa Mai", "Vàng Anh", "Hướng Dương", "Hoa Hồng", "Tuổi Thơ", "Măng Non",
    "Rạng Đông", "Hoa Lan", "Thỏ Ngọc", "Bé Ngoan", "Hoa Cúc", "Ánh Dương", "Bình Minh", "Hoa Phượng",
)  # fmt: skip
LETTERS = ("A", "B", "C", "D", "E", "F")


class WardContext:
    """Per-feature ward values a template can use (arrays aligned with the features)."""

    def __init__(
        self, codes: np.ndarray, names: np.ndarray, full_names: np.ndarray, rural: np.ndarray
    ) -> None:
        self.codes = codes
        self.names = names
        self.full_names = full_names
        self.rural = rural
        self.n = _rank_within(codes)
        self.drawn: dict[str, Any] = {}


def _rank_within(codes: np.ndarray) -> np.ndarray:
    """Return 1, 2, … numbering each feature within its ward, in feature order."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    ranks: np.ndarray = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy() + 1
    return ranks


def _pick(rng: np.random.Generator, pool: tuple[str, ...], size: int, p: Any = None) -> np.ndarray:
    idx = rng.choice(len(pool), size=size, p=p)
    return np.asarray(pool, dtype=object)[idx]


def _fullnames(rng: np.random.Generator, size: int) -> np.ndarray:
    w = np.asarray(SURNAME_WEIGHTS) / sum(SURNAME_WEIGHTS)
    parts = [_pick(rng, SURNAMES, size, w), _pick(rng, MIDDLES, size), _pick(rng, GIVEN, size)]
    return np.asarray(pd.Series(parts[0]) + " " + parts[1] + " " + parts[2], dtype=object)


def _field_values(field: str, rng: np.random.Generator, ctx: WardContext, size: int) -> np.ndarray:
    makers: dict[str, Callable[[], np.ndarray]] = {
        "person": lambda: _pick(rng, PERSONS, size),
        "fullname": lambda: _fullnames(rng, size),
        "company": lambda: _pick(rng, COMPANIES, size),
        "place": lambda: _pick(rng, PLACES, size),
        "flower": lambda: _pick(rng, FLOWERS, size),
        "num": lambda: rng.integers(1, 400, size),
        "street": lambda: np.asarray(["Đường " + p for p in _pick(rng, PERSONS, size)], dtype=object),
        "letter": lambda: _pick(rng, LETTERS, size),
        "year": lambda: rng.integers(2015, 2026, size),
        "ward": lambda: ctx.full_names,
        "ward_name": lambda: ctx.names,
        "ward_code": lambda: ctx.codes,
        "hamlet": lambda: np.where(ctx.rural, "Ấp", "Khu phố").astype(object),
        "n": lambda: ctx.n,
        "seq": lambda: np.arange(1, size + 1),
    }
    if field in ctx.drawn:
        return np.asarray(ctx.drawn[field])
    if field not in TEMPLATE_FIELDS:  # pragma: no cover - manifests are validated first
        raise ValueError(f"unknown template field {{{field}}}")
    return makers[field]()


def render(template: str, rng: np.random.Generator, ctx: WardContext) -> np.ndarray:
    """Render ``template`` once per feature; returns an object array of strings."""
    size = len(ctx.codes)
    out = pd.Series([""] * size, dtype=object)
    for literal, field, spec, _ in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if field is None:
            continue
        values = _field_values(field, rng, ctx, size)
        if spec:
            values = np.asarray([format(v, spec) for v in values.tolist()], dtype=object)
        out = out + pd.Series(values, dtype=object).astype(str)
    return np.asarray(out, dtype=object)


def values(spec: AttrSpec, rng: np.random.Generator, ctx: WardContext, area_km2: np.ndarray | None) -> Any:
    """Draw one attribute's values for every feature according to its recipe."""
    size = len(ctx.codes)
    if spec.text is not None:
        return render(spec.text, rng, ctx)
    if spec.choice is not None:
        p = np.asarray(spec.weights) / sum(spec.weights) if spec.weights else None
        return _pick(rng, tuple(spec.choice), size, p)  # type: ignore[arg-type]
    if spec.bool_ is not None:
        return rng.random(size) < spec.bool_
    if spec.date_ is not None:
        lo, hi = (np.datetime64(d, "D").astype(np.int64) for d in spec.date_)
        return (rng.integers(lo, hi + 1, size)).astype("datetime64[D]")
    low_high = spec.int_ if spec.int_ is not None else spec.float_
    assert low_high is not None  # noqa: S101 - AttrSpec guarantees one kind
    lo_arr = np.full(size, float(low_high[0]))
    hi_arr = np.full(size, float(low_high[1]))
    if spec.rural is not None:
        lo_arr = np.where(ctx.rural, spec.rural[0], lo_arr)
        hi_arr = np.where(ctx.rural, spec.rural[1], hi_arr)
    drawn = rng.uniform(lo_arr, hi_arr)
    if spec.per_km2 and area_km2 is not None:
        drawn = drawn * area_km2
    if spec.int_ is not None:
        return np.rint(drawn).astype(np.int64)
    return np.round(drawn, spec.digits)
