"""Response bodies of the items endpoints, written chunk by chunk from the feature rows.

Each GeoJSON row is already a Feature's text (built by PostGIS); Python only joins a batch with
commas and wraps the collection around it. ``numberReturned``/``numberMatched`` and the paging
links are known only at the end, so they are written after the features (member order is free).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from gis_platform.features import html, service
from gis_platform.features.links import CSV, GEOJSON, HTML, JSON, Urls, link, page_links
from gis_platform.features.models import Collection, Field, ItemsQuery
from gis_platform.features.queries import Output
from gis_platform.features.service import FeatureRows

OUTPUTS: dict[str, Output] = {"json": "geojson", "html": "html", "csv": "csv"}
DOWNLOAD_TYPES = {
    "geojson": ("application/geo+json", ".geojson"),
    "csv": ("text/csv", ".csv"),
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "shp": ("application/zip", ".zip"),
}


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def geojson_collection(
    rows: FeatureRows, trailer: Callable[[], Any] | None = None
) -> AsyncIterator[bytes]:
    """A FeatureCollection: features as they come, then ``trailer()``'s members (counts, links)."""
    prefix = '{"type":"FeatureCollection","features":['
    async for batch in rows.batches():
        yield (prefix + ",".join([r[0] for r in batch])).encode()
        prefix = ","
    tail: dict[str, Any] = await trailer() if trailer else {}
    start = "]" if prefix == "," else prefix + "]"
    yield (start + ("," + orjson.dumps(tail).decode()[1:] if tail else "}")).encode()


def page_trailer(
    rows: FeatureRows, urls: Urls, collection: Collection, fmt: str, members: dict[str, Any] | None = None
) -> Callable[[], Any]:
    """The closing members of an items page (``members``: more of them, e.g. what was joined)."""

    async def trailer() -> dict[str, Any]:
        matched, estimated = await rows.number_matched()
        tail: dict[str, Any] = {**(members or {}), "numberReturned": rows.returned, "numberMatched": matched}
        if estimated:
            tail["numberMatchedEstimated"] = True
        tail["timeStamp"] = _timestamp()
        tail["links"] = page_links(
            urls, collection.slug, fmt, offset=rows.query.offset, limit=rows.query.limit,
            returned=rows.returned, has_more=rows.has_more,
        )  # fmt: skip
        return tail

    return trailer


def csv_header(fields: tuple[Field, ...]) -> str:
    """The CSV header line."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["fid", *(f.name for f in fields), "wkt"])
    return out.getvalue()


async def csv_rows(rows: FeatureRows, fields: tuple[Field, ...]) -> AsyncIterator[bytes]:
    """CSV with a WKT geometry column; each line was written by PostgreSQL."""
    prefix = csv_header(fields)
    async for batch in rows.batches():
        yield (prefix + "\n".join([r[0] for r in batch]) + "\n").encode()
        prefix = ""
    if prefix:
        yield prefix.encode()


def html_items(
    rows: FeatureRows, urls: Urls, collection: Collection, query: ItemsQuery
) -> AsyncIterator[bytes]:
    """An HTML page of the items with a map."""
    fields = collection.fields if query.properties is None else query.properties
    base = f"/collections/{collection.slug}"

    async def footer() -> tuple[str, list[dict[str, str]]]:
        matched, estimated = await rows.number_matched()
        about = "about " if estimated else ""
        summary = f"Features {query.offset + 1 if rows.returned else 0} to {query.offset + rows.returned} of {about}{matched}."
        links = page_links(
            urls, collection.slug, "html", offset=query.offset, limit=query.limit, returned=rows.returned,
            has_more=rows.has_more,
        )  # fmt: skip
        return summary, [lk for lk in links if lk["rel"] not in ("self",)]

    return html.items_page(
        rows.batches(),
        title=f"{collection.title} — features",
        crumbs=[("Home", urls.to("/")), ("Collections", urls.to("/collections")),
                (collection.title, urls.to(base)), ("Items", None)],
        item_href=lambda fid: urls.to(f"{base}/items/{fid}", f="html"),
        columns=[f.name for f in fields],
        footer=footer,
    )  # fmt: skip


async def page_response(
    fmt: str, rows: FeatureRows, urls: Urls, collection: Collection, query: ItemsQuery,
    members: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    """An items response; a GeoJSON page read in one fetch is sent whole (one body, no streaming machinery)."""
    if fmt != "json" or not rows.fetched:
        return items_response(fmt, rows, urls, collection, query, members)
    body = geojson_collection(rows, page_trailer(rows, urls, collection, fmt, members))
    return Response(b"".join([chunk async for chunk in body]), media_type=GEOJSON,
                    headers={"Content-Crs": query.crs.header})  # fmt: skip


def items_response(
    fmt: str, rows: FeatureRows, urls: Urls, collection: Collection, query: ItemsQuery,
    members: dict[str, Any] | None = None,
) -> StreamingResponse:  # fmt: skip
    """The streamed response of an items request in ``fmt``."""
    headers = {"Content-Crs": query.crs.header}
    if fmt == "html":
        return StreamingResponse(html_items(rows, urls, collection, query), media_type=HTML, headers=headers)
    if fmt == "csv":
        fields = collection.fields if query.properties is None else query.properties
        return StreamingResponse(csv_rows(rows, fields), media_type=CSV, headers=headers)
    body = geojson_collection(rows, page_trailer(rows, urls, collection, fmt, members))
    return StreamingResponse(body, media_type=GEOJSON, headers=headers)


def item_response(
    fmt: str, row: asyncpg.Record, urls: Urls, collection: Collection, query: ItemsQuery
) -> Response:
    """One feature as GeoJSON (with links) or HTML."""
    base = f"/collections/{collection.slug}"
    links = [
        link(urls.here(), "self", GEOJSON if fmt == "json" else HTML, "This feature"),
        link(urls.here(f="html" if fmt == "json" else "json"), "alternate", HTML if fmt == "json" else GEOJSON,
             "This feature as " + ("HTML" if fmt == "json" else "GeoJSON")),
        link(urls.to(base), "collection", JSON, "The collection"),
    ]  # fmt: skip
    headers = {"Content-Crs": query.crs.header}
    if fmt == "html":
        crumbs = [("Home", urls.to("/")), ("Collections", urls.to("/collections")),
                  (collection.title, urls.to(base)), (f"#{query.fid}", None)]  # fmt: skip
        page = html.feature_page(f"{collection.title} #{query.fid}", crumbs, row, links)
        return HTMLResponse(page, headers=headers)
    feature: str = row[0]
    body = feature[:-1] + ',"links":' + orjson.dumps(links).decode() + "}"
    return Response(body, media_type=GEOJSON, headers=headers)


async def download_response(conn: asyncpg.Connection, collection: Collection, fmt: str) -> Response:
    """The whole layer as a streamed file."""
    media_type, suffix = DOWNLOAD_TYPES[fmt]
    headers = {"Content-Disposition": f'attachment; filename="{collection.slug}{suffix}"'}
    if fmt in ("geojson", "csv"):  # streamed from the rows as they are read
        output: Output = "geojson" if fmt == "geojson" else "csv"
        rows = await service.open_rows(conn, collection, ItemsQuery(), output, page=False)
        body = geojson_collection(rows) if fmt == "geojson" else csv_rows(rows, collection.fields)
        return StreamingResponse(body, media_type=media_type, headers=headers)
    # GeoPackage, Shapefile: GDAL, Arrow and (through pyogrio) geopandas cost each worker ~60 MB,
    # loaded by the first such download
    from gis_platform.features import download

    directory = download.temp_directory()
    try:
        path = await download.write_layer(conn, collection, fmt, directory)
    except BaseException:
        download.remove(directory)
        raise
    headers["Content-Length"] = str(path.stat().st_size)
    return StreamingResponse(download.stream_file(path, directory), media_type=media_type, headers=headers)
