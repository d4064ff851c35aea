"""Statistics joined onto admin-unit layers: ``?join=indicator[,indicator][&period=][&at=]``.

Tiles and feature pages of an admin-unit layer (:data:`ADMIN_LAYERS`) get one property per indicator:
the values :func:`gis_platform.stats.service.compute_values` gives on the layer's own boundaries (with
the crosswalk where the observations sit on the other boundary version), keyed by the layer's unit-code
column. The values reach SQL only as bind parameters (a key array and one array per indicator, joined
with ``unnest``), never as text.

Computed values are kept per (layer, indicators, period, day, data state). The data state (observation,
indicator, crosswalk and boundary changes: ``sql/data_state.sql``) is re-read in the background at most
every :data:`STATE_TTL_S` seconds; it enters the cache keys and tile URLs through the join's tag, so a
new import gives new keys within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from psycopg import sql

from gis_platform import singleflight
from gis_platform.errors import InvalidParameter, NotFound
from gis_platform.features.binds import Binds
from gis_platform.features.models import Collection, Field, Join
from gis_platform.stats import queries, service
from gis_platform.stats.periods import is_period
from gis_platform.tiles.models import Column, JoinedAttributes, TileLayer

logger = logging.getLogger(__name__)

MAX_INDICATORS = 5
JOIN_PARAMETERS = frozenset({"join", "period", "at"})
STATE_TTL_S = 2.0
_CACHE_SIZE = 256
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_KEY = "_unit_code"  # the key column of the joined rows (quoted; no indicator starts with "_")

#: Slug of the derived layer of the 273 pre-reform wards (2025-01-01 .. 2025-06-30, approximate polygons).
PRE_REFORM_WARDS = "ranh-gioi-phuong-xa-truoc-sap-xep-2025"
#: Slugs of the derived layers of the (synthetic) neighbourhoods before and after the reform.
NEIGHBOURHOODS = "ranh-gioi-khu-pho-ap-2025"
PRE_REFORM_NEIGHBOURHOODS = "ranh-gioi-khu-pho-ap-truoc-sap-xep-2025"


@dataclass(frozen=True)
class AdminLayer:
    """A catalogue layer whose features are the units of one boundary version."""

    slug: str
    level: str
    key: str  # the layer's column holding the unit code
    boundary_version: str


ADMIN_LAYERS: dict[str, AdminLayer] = {
    a.slug: a
    for a in (
        AdminLayer("ranh-gioi-phuong-xa-2025", "ward", "code", "hcmc-wards-2025-07-01"),
        AdminLayer(
            "ranh-gioi-quan-huyen-2021-2025", "district", "district_code", "hcmc-districts-2021-01-01"
        ),
        AdminLayer("ranh-gioi-thanh-pho-2025", "city", "code", "hcmc-city-2025-07-01"),
        AdminLayer(PRE_REFORM_WARDS, "ward", "code", "hcmc-wards-2025-01-01"),
        AdminLayer(NEIGHBOURHOODS, "neighbourhood", "code", "hcmc-neighbourhoods-2025-07-01"),
        AdminLayer(PRE_REFORM_NEIGHBOURHOODS, "neighbourhood", "code", "hcmc-neighbourhoods-2025-01-01"),
    )
}


@dataclass(frozen=True)
class JoinSpec:
    """What a request asks to join."""

    indicators: tuple[str, ...]
    period: str | None
    at: date | None


def has_join(params: Sequence[tuple[str, str]]) -> bool:
    """Whether the query parameters ask for a join (or give its options)."""
    return any(name in JOIN_PARAMETERS for name, _ in params)


def _single(params: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise InvalidParameter(name, f"{name!r} is given more than once.")
    return values[0] if values else None


def parse_spec(params: Sequence[tuple[str, str]]) -> JoinSpec:
    """Validate ``join``, ``period`` and ``at`` (400 problem+json for anything wrong)."""
    text = _single(params, "join")
    if text is None:
        raise InvalidParameter("join", "'period' and 'at' go with 'join=indicator[,indicator]'.")
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise InvalidParameter("join", "'join' names at least one indicator (see /stats/indicators).")
    if len(codes) > MAX_INDICATORS:
        raise InvalidParameter("join", f"'join' takes at most {MAX_INDICATORS} indicators, not {len(codes)}.")
    for code in codes:
        if not _CODE.match(code):
            raise InvalidParameter("join", f"{code[:64]!r} is not an indicator code.")
    if len(set(codes)) != len(codes):
        raise InvalidParameter("join", "An indicator is listed twice in 'join'.")
    period = _single(params, "period")
    if period is not None and not is_period(period.strip()):
        raise InvalidParameter("period", f"{period[:20]!r} is not a period: use YYYY, YYYY-Qn or YYYY-MM.")
    at_text = _single(params, "at")
    at: date | None = None
    if at_text is not None:
        try:
            at = date.fromisoformat(at_text.strip())
        except ValueError:
            raise InvalidParameter("at", f"'at' is a day (YYYY-MM-DD), not {at_text[:20]!r}.") from None
    return JoinSpec(tuple(codes), period.strip() if period is not None else None, at)


def admin_layer(slug: str) -> AdminLayer:
    """The admin-unit layer ``slug``; 400 for any other layer (only those accept joins)."""
    found = ADMIN_LAYERS.get(slug)
    if found is None:
        names = ", ".join(sorted(ADMIN_LAYERS))
        raise InvalidParameter("join", f"Only admin-unit layers accept joins ({names}); {slug!r} is not one.")
    return found


@dataclass(frozen=True)
class JoinedValues:
    """The values of a join on one layer: unit codes and one value array per indicator, with their provenance."""

    layer: AdminLayer
    at: date
    codes: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    members: tuple[dict[str, Any], ...]
    tag: str
    indicators: tuple[str, ...]
    tile_join: JoinedAttributes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        columns = tuple(Column(code, code, "double") for code in self.indicators)
        tile_join = JoinedAttributes(
            "stats", "joined", key=self.layer.key, foreign_key=_KEY, columns=columns, tag=self.tag,
            arrays=(self.codes, *self.values),
        )  # fmt: skip
        object.__setattr__(self, "tile_join", tile_join)

    def feature_join(self, titles: dict[str, str]) -> Join:
        """The features' join: ``LEFT JOIN unnest($codes, $v1, …) AS sj(_unit_code, i1, …)``."""
        key = sql.Identifier(self.layer.key)

        def clause(binds: Binds) -> sql.Composable:
            arrays = [binds.add(list(self.codes), "text[]")]
            arrays.extend(binds.add(list(v), "double precision[]") for v in self.values)
            names = [sql.Identifier(_KEY), *(sql.Identifier(c) for c in self.indicators)]
            return sql.SQL("LEFT JOIN unnest({}) AS sj({}) ON sj.{} = t.{}").format(
                sql.SQL(", ").join(arrays), sql.SQL(", ").join(names), sql.Identifier(_KEY), key
            )

        fields = tuple(
            Field(c, "double", titles.get(c, c), sql.SQL("sj.{}").format(sql.Identifier(c)))
            for c in self.indicators
        )
        return Join("stats", clause, fields)


ConnectionFactory = Callable[[], contextlib.AbstractAsyncContextManager[asyncpg.Connection]]


class StatsJoins:
    """Values of joins, cached per data state; the providers the tile and feature routes call."""

    def __init__(self, connection: ConnectionFactory, *, state_ttl_s: float = STATE_TTL_S) -> None:
        self.connection = connection
        self.state_ttl_s = state_ttl_s
        self.computed = 0  # how many joins were computed (tests read it)
        self._state: str | None = None
        self._state_at = 0.0
        self._refresh: asyncio.Task[None] | None = None
        self._cache: OrderedDict[tuple[Any, ...], JoinedValues] = OrderedDict()
        self._pending: dict[tuple[Any, ...], asyncio.Future[JoinedValues]] = {}
        self._titles: dict[str, str] = {}

    # --- data state ------------------------------------------------------------------------------

    async def state(self, conn: asyncpg.Connection | None = None) -> str:
        """The data state (read at first use, then refreshed in the background after the TTL)."""
        if self._state is None:
            await self._read_state(conn)
        else:
            self._refresh_state_if_old()
        assert self._state is not None  # noqa: S101 - set by _read_state
        return self._state

    def invalidate(self) -> None:
        """Forget the data state: the next request reads it again (call after a write in this process)."""
        self._state = None

    async def _read_state(self, conn: asyncpg.Connection | None) -> None:
        started = time.monotonic()
        try:
            if conn is not None:
                text = await queries.fetch_data_state(conn)
            else:
                async with self.connection() as own:
                    text = await queries.fetch_data_state(own)
        except Exception as exc:  # a background refresh must not fail loudly: the old state serves on
            if self._state is None:
                raise
            self._state_at = started  # try again after the TTL, not at every request
            logger.warning("statistics data state not refreshed: %s", type(exc).__name__)
            return
        self._state = hashlib.blake2b(text.encode(), digest_size=5).hexdigest()
        self._state_at = started

    # --- values ----------------------------------------------------------------------------------

    def cached(self, slug: str, spec: JoinSpec) -> JoinedValues | None:
        """The joined values of ``spec`` when they are known for the current data state (no database)."""
        if self._state is None:
            return None
        key = (slug, spec, self._state, spec.at or date.today())  # no 'at': today's boundaries
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self._refresh_state_if_old()
        return hit

    def _refresh_state_if_old(self) -> None:
        old = time.monotonic() - self._state_at > self.state_ttl_s
        if old and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.ensure_future(self._read_state(None))

    async def values(self, conn: asyncpg.Connection | None, slug: str, spec: JoinSpec) -> JoinedValues:
        """The joined values of ``spec`` on the layer ``slug`` (cached per data state).

        Concurrent misses of one join compute it once (a map asks for a dozen tiles at a time); without
        ``conn`` the computing request takes a connection of its own, the waiting ones none.
        """
        layer = admin_layer(slug)
        hit = self.cached(slug, spec)
        if hit is not None:
            return hit
        state = await self.state(conn)
        key = (slug, spec, state, spec.at or date.today())
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        computed = await singleflight.lead(self._pending, key, self._compute_on(conn, layer, spec, state))
        self._cache[key] = computed
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return computed

    async def _compute_on(
        self, conn: asyncpg.Connection | None, layer: AdminLayer, spec: JoinSpec, state: str
    ) -> JoinedValues:
        """:meth:`_compute` on ``conn``, or on a connection of its own."""
        if conn is not None:
            return await self._compute(conn, layer, spec, state)
        async with self.connection() as own:
            return await self._compute(own, layer, spec, state)

    async def _compute(
        self, conn: asyncpg.Connection, layer: AdminLayer, spec: JoinSpec, state: str
    ) -> JoinedValues:
        registry = {r["code"]: r for r in await queries.fetch_indicators(conn)}
        self._titles = {code: str(r["name_en"]) for code, r in registry.items()}
        for code in spec.indicators:
            if code not in registry:
                raise NotFound(f"No indicator {code!r}; see /stats/indicators.", parameter="join")
        at = await _day_of(conn, layer, spec.at)
        units = [r["code"] for r in await queries.fetch_units_at(conn, layer.level, at)]
        columns: list[tuple[float | None, ...]] = []
        members: list[dict[str, Any]] = []
        without_period: list[str] = []
        for code in spec.indicators:
            member: dict[str, Any] = {"indicator": code, "name": registry[code]["name_en"],
                                      "unit": registry[code]["unit"], "level": layer.level, "at": at.isoformat(),
                                      "boundary_version": layer.boundary_version}  # fmt: skip
            try:
                result = await service.compute_values(conn, code, layer.level, at, spec.period)
            except NotFound as exc:
                if exc.extensions.get("parameter") not in ("period", "indicator"):
                    raise
                without_period.append(code)
                columns.append(tuple(None for _ in units))
                members.append({**member, "period": spec.period, "values": 0, "missing": len(units),
                                "note": exc.detail})  # fmt: skip
                continue
            found = {v.unit_code: v.value for v in result.values}
            columns.append(tuple(found.get(u) for u in units))
            members.append({**member, "period": result.period, "method": result.method,
                            "method_detail": result.method_detail, "synthetic": result.synthetic,
                            "values": len(found), "missing": len(units) - len(found)})  # fmt: skip
        if len(without_period) == len(spec.indicators):
            raise NotFound(
                f"No values of {', '.join(spec.indicators)} for period {spec.period or '(latest)'}.",
                parameter="period",
            )
        self.computed += 1
        raw = f"{layer.slug}|{','.join(spec.indicators)}|{spec.period}|{at.isoformat()}|{state}"
        tag = "s" + hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()
        return JoinedValues(layer, at, tuple(units), tuple(columns), tuple(members), tag, spec.indicators)

    # --- providers -------------------------------------------------------------------------------

    async def tile_joins(
        self, layer: TileLayer, params: Sequence[tuple[str, str]]
    ) -> tuple[JoinedAttributes, ...]:
        """The joins of a tile request (``tile_join_provider``)."""
        spec = parse_spec(params)
        admin = admin_layer(layer.slug)
        version = layer.current
        if version is not None:
            _check_names(spec, admin, {c.name for c in version.columns})
        joined = self.cached(layer.slug, spec) or await self.values(None, layer.slug, spec)
        return (joined.tile_join,)

    async def feature_join(
        self, conn: asyncpg.Connection, collection: Collection, params: Sequence[tuple[str, str]]
    ) -> tuple[Collection, list[tuple[str, str]], dict[str, Any]]:
        """The collection with the joined properties, the other parameters, and the page's ``joins`` member."""
        spec = parse_spec(params)
        admin = admin_layer(collection.slug)
        _check_names(spec, admin, {f.name for f in collection.fields})
        joined = await self.values(conn, collection.slug, spec)
        rest = [(k, v) for k, v in params if k not in JOIN_PARAMETERS]
        return collection.with_join(joined.feature_join(self._titles)), rest, {"joins": list(joined.members)}


def _check_names(spec: JoinSpec, layer: AdminLayer, columns: set[str]) -> None:
    if layer.key not in columns:
        raise InvalidParameter("join", f"Layer {layer.slug!r} has no unit-code column {layer.key!r}.")
    clash = sorted(set(spec.indicators) & columns)
    if clash:
        raise InvalidParameter(
            "join", f"Indicator {clash[0]!r} has the name of a property of {layer.slug!r}."
        )


async def _day_of(conn: asyncpg.Connection, layer: AdminLayer, at: date | None) -> date:
    """``at`` (default: today, or the last day of a past boundary version), checked against the layer's validity."""
    row = await queries.fetch_boundary_version(conn, layer.boundary_version)
    if row is None:
        raise NotFound(
            f"The boundaries of {layer.slug!r} ({layer.boundary_version}) are not loaded.", parameter="join"
        )
    start: date = row["valid_from"]
    end: date | None = row["valid_to"]
    if at is None:
        today = date.today()
        return end if end is not None and today > end else max(today, start)
    if at < start or (end is not None and at > end):
        others = [a.slug for a in ADMIN_LAYERS.values() if a.level == layer.level and a.slug != layer.slug]
        until = end.isoformat() if end is not None else "today"
        raise InvalidParameter(
            "at",
            f"Layer {layer.slug!r} holds the {layer.level} boundaries valid {start.isoformat()} to {until}; "
            f"for {at.isoformat()} join onto {' or '.join(others) or 'another layer'}.",
        )
    return at


def install_joins(app: Any) -> StatsJoins:
    """Give the app's tile and feature routes their join providers (``app.state``); idempotent."""
    joins: StatsJoins | None = getattr(app.state, "stats_joins", None)
    if joins is None:

        @contextlib.asynccontextmanager
        async def connection() -> AsyncIterator[asyncpg.Connection]:
            async with app.state.db.connection() as conn:
                yield conn

        joins = StatsJoins(connection)
        app.state.stats_joins = joins
        app.state.tile_join_provider = joins.tile_joins
        app.state.feature_join_provider = joins.feature_join
    return joins
