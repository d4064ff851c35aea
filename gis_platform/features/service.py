"""Features: collections from the catalogue, and feature rows streamed from one SQL statement each."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from gis_platform.errors import InvalidParameter, NotFound
from gis_platform.features import queries
from gis_platform.features.models import Collection, ItemsQuery

logger = logging.getLogger(__name__)

#: A second connection for the request (the features pools' ``connection``), when one is free now.
SideConnection = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]

#: Rows fetched per round trip (and written per chunk). A page of fewer rows is fetched by one plain
#: statement; longer reads (pages up to 10,000, whole layers) go through a server-side cursor.
BATCH_ROWS = 2000
#: Matches of a filtered query are counted exactly up to this many; beyond it the planner's
#: estimate is given (and said to be one): counting 100,000 points costs about 20 times the page.
EXACT_COUNT_MAX = 10_000
#: Layer slugs (``catalogue.layer.slug``'s check); anything else cannot name a collection.
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
_USER_ERRORS = (
    asyncpg.exceptions.DataError,  # SQLSTATE class 22: out-of-range numbers, bad geometry input …
    asyncpg.exceptions.UndefinedFunctionError,
    asyncpg.exceptions.DatatypeMismatchError,
)


def collection_from_row(row: asyncpg.Record) -> Collection:
    """A catalogue row (``queries.select_collection``) as a :class:`Collection`."""
    bbox = row["bbox"]
    keywords = row["keywords"] or []
    return Collection(
        layer_id=int(row["id"]), slug=row["slug"], title=row["title_en"] or row["title_vi"],
        title_vi=row["title_vi"], description=row["description_en"] or row["description_vi"] or "",
        keywords=tuple(keywords), licence=row["licence"], attribution=row["attribution"],
        geometry_type=row["version_geometry_type"] or row["geometry_type"], version=int(row["current_version"]),
        table=row["table_name"], feature_count=int(row["feature_count"] or 0),
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]) if bbox and len(bbox) == 4 else None,
        fields=queries.column_fields(row["columns"]), published_at=row["published_at"],
    )  # fmt: skip


async def list_collections(conn: asyncpg.Connection, internal: bool = False) -> list[Collection]:
    """Every published layer the caller may see (internal ones too when ``internal``)."""
    return [collection_from_row(r) for r in await queries.select_collections(conn, internal)]


async def get_collection(conn: asyncpg.Connection, slug: str, internal: bool = False) -> Collection:
    """A published visible layer; :class:`NotFound` otherwise (internal layers look absent to anonymous callers)."""
    row = await queries.select_collection(conn, slug, internal) if SLUG.match(slug) else None
    if row is None:
        raise NotFound(f"No collection {slug[:64]!r}; see /collections.", parameter="collectionId")
    return collection_from_row(row)


class TimeExtents:
    """Earliest/latest temporal values per version table; versions never change, so they are cached."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    async def get(
        self, conn: asyncpg.Connection, collection: Collection
    ) -> tuple[str | None, str | None] | None:
        """The temporal extent of the collection (RFC 3339 text), or ``None`` without a temporal property."""
        field = collection.temporal_field
        if field is None:
            return None
        key = f"{collection.table}:{field.name}"
        if key not in self._cache:
            low, high = await queries.select_time_range(conn, collection, field)
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (_rfc3339(low), _rfc3339(high))
        return self._cache[key]


def _rfc3339(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return f"{value.isoformat()}T00:00:00Z"


class FeatureRows:
    """The rows of one items/item/download statement, streamed from a server-side cursor.

    :meth:`open` runs the statement and fetches the first batch, so a query the database rejects
    becomes a 400 before any byte is sent; :meth:`batches` then yields the rows batch by batch.
    With ``page=True`` the statement fetches one row past the limit, to know whether a next page exists.

    ``side``: a second connection, free now. A filtered page then asks the planner for its estimate of
    ``numberMatched`` on it while the page's rows are read (the estimate is planning only, 0.3-0.4 ms on
    the 1M-point layer, a sixth of a 1,000-feature page); unneeded, its answer is dropped.
    """

    def __init__(
        self, conn: asyncpg.Connection, collection: Collection, query: ItemsQuery, output: queries.Output,
        *, page: bool = True, statements: queries.PageStatements | None = None, side: SideConnection | None = None,
    ) -> None:  # fmt: skip
        self.conn = conn
        self.side = side
        self._estimating: asyncio.Future[int] | None = None
        self.collection = collection
        self.query = query
        self.page = page
        if statements is None:
            statements = queries.page_statements(collection, query, output, page=page)
        self.statements = statements
        self.statement = self.statements.page
        self.returned = 0
        self.has_more = False
        self._cursor: Any = None
        self._first: list[asyncpg.Record] = []
        self._batch = BATCH_ROWS

    async def open(self) -> FeatureRows:
        """Start the statement; database errors caused by the request become :class:`InvalidParameter`."""
        small = self.page and self.query.limit < self._batch
        if self.side is not None and self.page and self.query.filtered:
            self._estimating = asyncio.ensure_future(self._estimate_aside(self.side))
            self._estimating.add_done_callback(_retrieve)
        try:
            if small:
                self._first = await queries.fetch_rows(self.conn, self.statement)
            else:
                await queries.begin(self.conn)
                self._cursor = await queries.open_cursor(self.conn, self.statement)
                self._first = await self._cursor.fetch(self._batch)
        except _USER_ERRORS as exc:
            await queries.finish(self.conn)
            raise InvalidParameter("filter", f"The database cannot evaluate this request: {exc}") from None
        except asyncpg.UndefinedTableError:
            # the version's table went away (layer deleted) before this process heard of it
            await queries.finish(self.conn)
            raise NotFound(
                f"No collection {self.collection.slug!r}; see /collections.", parameter="collectionId"
            ) from None
        except BaseException:
            await queries.finish(self.conn)
            raise
        return self

    @property
    def fetched(self) -> bool:
        """True when :meth:`open` read every row (a page under one batch): nothing is left to stream."""
        return self._cursor is None

    async def batches(self) -> AsyncGenerator[list[asyncpg.Record], None]:
        """Every row of the statement (at most ``limit`` for a page), batch by batch."""
        try:
            rows = self._first
            self._first = []
            while rows:
                if self.page and self.returned + len(rows) > self.query.limit:
                    rows = rows[: self.query.limit - self.returned]
                    self.has_more = True
                self.returned += len(rows)
                if rows:
                    yield rows
                if self.has_more or len(rows) < self._batch or self._cursor is None:
                    break
                rows = await self._cursor.fetch(self._batch)
        finally:
            await queries.finish(self.conn)

    async def first_row(self) -> asyncpg.Record | None:
        """The single row of an item request."""
        batches = self.batches()
        try:
            rows = await anext(batches, None)
        finally:
            await batches.aclose()
        return rows[0] if rows else None

    async def number_matched(self) -> tuple[int, bool]:
        """How many features match: ``(count, estimated)``; call after the rows were read."""
        query = self.query
        if not query.filtered:
            return self.collection.feature_count, False
        if not self.has_more and (self.returned or not query.offset):
            return query.offset + self.returned, False
        floor = query.offset + self.returned + (1 if self.has_more else 0)
        estimate = await self._estimate()
        if estimate <= EXACT_COUNT_MAX:
            counted = await queries.fetch_count(self.conn, self.statements.count(EXACT_COUNT_MAX + 1))
            if counted <= EXACT_COUNT_MAX:
                return counted, False
            estimate = counted
        return max(estimate, floor), True

    async def _estimate_aside(self, side: SideConnection) -> int:
        async with side() as conn:
            return await queries.fetch_estimate(conn, self.statements.estimate())

    async def _estimate(self) -> int:
        """The planner's estimate of the matches: the one asked for aside (when it worked), else asked now."""
        if self._estimating is not None:
            try:
                return await self._estimating
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                logger.debug("estimate on a second connection failed (%s); asking again", type(exc).__name__)
        return await queries.fetch_estimate(self.conn, self.statements.estimate())


def _retrieve(task: asyncio.Future[int]) -> None:
    """Mark an unawaited estimate's error as seen (the request may not have needed it)."""
    if not task.cancelled():
        task.exception()


async def open_rows(
    conn: asyncpg.Connection,
    collection: Collection,
    query: ItemsQuery,
    output: queries.Output,
    *,
    page: bool = True,
    statements: queries.PageStatements | None = None,
    side: SideConnection | None = None,
) -> FeatureRows:
    """Start streaming the rows of an items (``page``) or download (whole layer) request.

    ``statements``: this request's :func:`queries.page_statements`, when the caller already has them.
    ``side``: a second connection for the ``numberMatched`` estimate (see :class:`FeatureRows`).
    """
    rows = FeatureRows(conn, collection, query, output, page=page, statements=statements, side=side)
    return await rows.open()


async def get_feature(
    conn: asyncpg.Connection, collection: Collection, query: ItemsQuery, output: queries.Output
) -> asyncpg.Record:
    """One feature's row; :class:`NotFound` when the collection has no such feature."""
    rows = await open_rows(conn, collection, query, output)
    row = await rows.first_row()
    if row is None:
        raise NotFound(f"Collection {collection.slug!r} has no feature {query.fid}.", parameter="featureId")
    return row


def properties_of(row: asyncpg.Record, index: int = 1) -> dict[str, Any]:
    """Decode the properties JSON of an HTML row."""
    value: dict[str, Any] = orjson.loads(row[index])
    return value
