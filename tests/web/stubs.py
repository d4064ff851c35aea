"""Contract stubs of the APIs the web map calls, for the browser tests while the real routers land.

Each stub answers exactly the documented contract (catalogue, tiles/styles, features, statistics,
ingest) from the test database, with as little logic as possible. ``conftest.py`` includes a stub
only when the app has no route for that capability and the real router cannot be imported.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
import uuid
from datetime import date
from typing import Annotated, Any

import geopandas as gpd
import orjson
import psycopg
from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from psycopg import sql

from gis_platform.errors import NotFound, PlatformError
from gis_platform.ingest.loader import publish_version, rollback_to
from gis_platform.ingest.service import import_frame
from gis_platform.web.deps import ConnDep

EDITOR_TOKEN = "test-editor-token"
YLORRD = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026", "#4d0013"]
INDICATORS = [
    {"code": "population", "name_vi": "Dân số", "name_en": "Population", "unit": "người", "synthetic": False},
    {"code": "density", "name_vi": "Mật độ dân số", "name_en": "Population density", "unit": "người/km²",
     "synthetic": True},
]  # fmt: skip


class Unauthorized(PlatformError):
    """No or a wrong editor token."""

    type = "unauthorized"
    title = "Unauthorized"
    status = 401


def _json(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


# --- catalogue --------------------------------------------------------------------------------------
catalogue = APIRouter()
LAYER_COLUMNS = (
    "l.slug, l.title_vi, l.title_en, l.category, l.geometry_type, l.synthetic, l.visibility, l.licence, "
    "l.attribution, l.current_version, v.bbox"
)


def _layer(row: Any) -> dict[str, Any]:
    layer = dict(row)
    layer["links"] = [{"rel": "tiles", "href": f"/tiles/{layer['slug']}.json"}]
    return layer


@catalogue.get("/catalogue/categories")
async def categories(conn: ConnDep) -> Response:
    rows = await conn.fetch(
        "SELECT c.id, c.title_vi, c.title_en, count(l.id) AS count FROM catalogue.category c "
        "LEFT JOIN catalogue.layer l ON l.category = c.id GROUP BY c.id ORDER BY c.sort_order, c.id"
    )
    return _json({"categories": [dict(r) for r in rows]})


@catalogue.get("/catalogue/layers")
async def layers(
    conn: ConnDep, q: str | None = None, category: str | None = None, limit: int = 50, offset: int = 0
) -> Response:
    rows = await conn.fetch(
        f"SELECT {LAYER_COLUMNS}, count(*) OVER () AS matched FROM catalogue.layer l "  # noqa: S608 - constant
        "LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version "
        "WHERE ($1::text IS NULL OR unaccent(lower(l.title_vi || ' ' || l.title_en || ' ' || l.slug)) "
        "      LIKE '%' || unaccent(lower($1)) || '%') AND ($2::text IS NULL OR l.category = $2) "
        "ORDER BY l.title_vi LIMIT $3 OFFSET $4",
        q or None, category or None, limit, offset,
    )  # fmt: skip
    matched = rows[0]["matched"] if rows else 0
    return _json(
        {
            "layers": [_layer({k: v for k, v in r.items() if k != "matched"}) for r in rows],
            "numberMatched": matched,
        }
    )


@catalogue.get("/catalogue/layers/{slug}")
async def layer(conn: ConnDep, slug: str) -> Response:
    row = await conn.fetchrow(
        f"SELECT {LAYER_COLUMNS}, l.id FROM catalogue.layer l "  # noqa: S608 - constant
        "LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version "
        "WHERE l.slug = $1",
        slug,
    )
    if row is None:
        raise NotFound(f"No layer {slug!r}.")
    versions = await conn.fetch(
        "SELECT version, status, feature_count, bbox, created_at::text, published_at::text "
        "FROM catalogue.layer_version WHERE layer_id = $1 ORDER BY version",
        row["id"],
    )
    body = _layer({k: v for k, v in row.items() if k != "id"})
    body["versions"] = [dict(v) for v in versions]
    return _json(body)


# --- tiles and styles ---------------------------------------------------------------------------------
tiles = APIRouter()


async def _geometry_type(conn: Any, slug: str) -> tuple[str, int]:
    row = await conn.fetchrow(
        "SELECT geometry_type, current_version FROM catalogue.layer WHERE slug = $1", slug
    )
    if row is None or row["current_version"] is None:
        raise NotFound(f"No published layer {slug!r}.")
    return str(row["geometry_type"]), int(row["current_version"])


@tiles.get("/tiles/{slug}.json")
async def tilejson(request: Request, conn: ConnDep, slug: str) -> Response:
    _, version = await _geometry_type(conn, slug)
    base = str(request.base_url).rstrip("/")
    return _json({
        "tilejson": "3.0.0", "tiles": [f"{base}/tiles/{slug}/{{z}}/{{x}}/{{y}}.mvt?v={version}"],
        "vector_layers": [{"id": slug, "fields": {}}], "minzoom": 0, "maxzoom": 16,
    })  # fmt: skip


@tiles.get("/styles/{slug}.json")
async def style(conn: ConnDep, slug: str) -> Response:
    geometry_type, _ = await _geometry_type(conn, slug)
    colour = {"Point": "#d1495b", "Polygon": "#2e8b57"}.get(geometry_type.replace("Multi", ""), "#00798c")
    source = {"type": "vector", "url": f"/tiles/{slug}.json"}
    if "Point" in geometry_type:
        layers = [{"id": slug, "type": "circle", "source": slug, "source-layer": slug,
                   "paint": {"circle-color": colour, "circle-radius": 6, "circle-stroke-color": "#ffffff",
                             "circle-stroke-width": 1}}]  # fmt: skip
    else:
        layers = [
            {"id": f"{slug}-fill", "type": "fill", "source": slug, "source-layer": slug,
             "paint": {"fill-color": colour, "fill-opacity": 0.6}},
            {"id": f"{slug}-line", "type": "line", "source": slug, "source-layer": slug,
             "paint": {"line-color": "#1b4332", "line-width": 1}},
        ]  # fmt: skip
    return _json({"version": 8, "sources": {slug: source}, "layers": layers})


@tiles.get("/tiles/{slug}/{z}/{x}/{y}.mvt")
async def tile(conn: ConnDep, slug: str, z: int, x: int, y: int) -> Response:
    await _geometry_type(conn, slug)
    query = sql.SQL(
        "WITH b AS (SELECT ST_TileEnvelope($1, $2, $3) AS e) "
        "SELECT ST_AsMVT(t, $4, 4096, 'geom', 'fid') FROM ("
        " SELECT d.fid, to_jsonb(d) - 'geom' - 'geom_3857' - 'fid' AS props,"
        "        ST_AsMVTGeom(d.geom_3857, b.e, 4096, 64, true) AS geom"
        " FROM layerdata.{} d, b WHERE d.geom_3857 && b.e) t"
    ).format(sql.Identifier(slug))
    body = await conn.fetchval(query.as_string(None), z, x, y, slug)
    return Response(bytes(body or b""), media_type="application/vnd.mapbox-vector-tile")


# --- features ---------------------------------------------------------------------------------------
features = APIRouter()


@features.get("/collections/{slug}/items")
async def items(conn: ConnDep, slug: str, limit: int = 100, bbox: str | None = None) -> Response:
    await _geometry_type(conn, slug)
    query = sql.SQL(
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object("
        " 'type', 'Feature', 'id', d.fid, 'geometry', ST_AsGeoJSON(d.geom)::json,"
        " 'properties', to_jsonb(d) - 'geom' - 'geom_3857')), '[]'::json))::text"
        " FROM (SELECT * FROM layerdata.{} ORDER BY fid LIMIT $1) d"
    ).format(sql.Identifier(slug))
    text = await conn.fetchval(query.as_string(None), limit)
    return Response(text, media_type="application/geo+json")


# --- statistics ----------------------------------------------------------------------------------------
stats = APIRouter()


def _value(code: str, indicator: str) -> float:
    base = (int("".join(ch for ch in code if ch.isdigit()) or "0") * 7919) % 50_000 + 5_000
    return float(base if indicator == "population" else round(base / 3.7, 1))


async def _values(conn: Any, indicator: str, level: str, at: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT code FROM admin.admin_unit WHERE level = $1 AND valid_from <= $2::date "
        "AND (valid_to IS NULL OR $2::date <= valid_to) ORDER BY code",
        level, date.fromisoformat(at),
    )  # fmt: skip
    return [{"unit_code": r["code"], "value": _value(r["code"], indicator)} for r in rows]


@stats.get("/stats/indicators")
async def indicators() -> Response:
    return _json({"indicators": INDICATORS})


@stats.get("/stats/values")
async def values(conn: ConnDep, indicator: str, level: str = "ward", at: str = "2026-01-01") -> Response:
    return _json({"values": await _values(conn, indicator, level, at), "method": "stub: direct values"})


@stats.get("/stats/choropleth")
async def choropleth(
    conn: ConnDep, indicator: str, level: str = "ward", at: str = "2026-01-01", k: int = 5,
    scheme: str = "quantiles",
) -> Response:  # fmt: skip
    nums = sorted(v["value"] for v in await _values(conn, indicator, level, at))
    if not nums:
        return _json({"breaks": [], "colors": [], "legend": []})
    breaks = [nums[0]] + [nums[min(len(nums) - 1, (len(nums) * i) // k)] for i in range(1, k)] + [nums[-1]]
    colors = YLORRD[:k]
    legend = [{"color": colors[i], "min": breaks[i], "max": breaks[i + 1]} for i in range(k)]
    return _json({"breaks": breaks, "colors": colors, "legend": legend, "scheme": scheme, "k": k})


@stats.get("/stats/units/{code}")
async def unit_profile(code: str, at: str = "2026-01-01") -> Response:
    series = [
        {**ind, "series": [{"period": str(y), "value": _value(code, ind["code"]) * (1 + (y - 2024) / 50)}
                           for y in (2023, 2024, 2025)]}
        for ind in INDICATORS
    ]  # fmt: skip
    return _json({"code": code, "at": at, "indicators": series})


# --- ingest ----------------------------------------------------------------------------------------
def ingest_router(database_url: str) -> APIRouter:
    """The ingest contract: layers, versions (202 + job), jobs, publish, rollback; jobs run in threads."""
    router = APIRouter()
    jobs: dict[str, dict[str, Any]] = {}

    def check(authorization: str | None) -> None:
        if authorization != f"Bearer {EDITOR_TOKEN}":
            raise Unauthorized("An editor token is required.")

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(database_url, autocommit=True)

    @router.post("/catalogue/layers", status_code=201)
    async def create_layer(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        check(authorization)
        body = await request.json()
        fields = (
            "slug",
            "title_vi",
            "title_en",
            "category",
            "agency",
            "licence",
            "attribution",
            "geometry_type",
        )
        values = {f: body[f] for f in fields} | {"synthetic": bool(body.get("synthetic"))}

        def insert() -> None:
            with connect() as conn:
                conn.execute(
                    "INSERT INTO catalogue.layer (slug, title_vi, title_en, category, agency, licence, attribution,"
                    " geometry_type, synthetic, managed_by) VALUES (%(slug)s, %(title_vi)s, %(title_en)s,"
                    " %(category)s, %(agency)s, %(licence)s, %(attribution)s, %(geometry_type)s, %(synthetic)s,"
                    " 'api')",
                    values,
                )

        await asyncio.to_thread(insert)
        return _json(values, 201)

    def run(job: dict[str, Any], slug: str, name: str, data: bytes, publish: bool) -> None:
        job.update(status="running", stage="reading", progress=0.2)
        time.sleep(0.3)
        try:
            frame = gpd.read_file(io.BytesIO(data))
        except Exception as exc:
            job.update(
                status="failed",
                stage="reading",
                error={"title": "Unreadable file", "detail": str(exc), "file": name},
            )
            return
        job.update(stage="validating", progress=0.5)
        time.sleep(0.3)
        problems = [
            {"feature": i, "message": "missing geometry" if g is None else "invalid geometry"}
            for i, g in enumerate(frame.geometry) if g is None or not g.is_valid
        ]  # fmt: skip
        job["report"] = {"feature_count": len(frame), "problems": problems}
        if problems:
            job.update(status="failed", stage="validating", error={
                "title": "Invalid features", "detail": f"{len(problems)} features cannot be loaded.",
                "file": name, "feature": problems[0]["feature"]})  # fmt: skip
            return
        job.update(stage="loading", progress=0.8)
        with connect() as conn:
            info = import_frame(conn, slug, frame.set_crs(4326, allow_override=True), author="editor",
                                publish=publish, source_filename=name)  # fmt: skip
        job.update(status="succeeded", stage="done", progress=1.0, version={
            "version": info.version, "status": info.status, "feature_count": info.feature_count,
            "bbox": info.bbox})  # fmt: skip

    @router.post("/catalogue/layers/{slug}/versions", status_code=202)
    async def upload(
        slug: str,
        file: Annotated[UploadFile, File()],
        publish: Annotated[bool, Form()] = False,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        check(authorization)
        data = await file.read()
        job = {"id": str(uuid.uuid4()), "status": "queued", "stage": None, "progress": 0.0, "report": {},
               "error": None, "version": None, "publish": publish}  # fmt: skip
        jobs[job["id"]] = job
        threading.Thread(
            target=run, args=(job, slug, file.filename or "upload", data, publish), daemon=True
        ).start()
        return _json({"job": job, "links": [{"rel": "monitor", "href": f"/jobs/{job['id']}"}]}, 202)

    @router.get("/jobs/{job_id}")
    async def get_job(job_id: str, authorization: Annotated[str | None, Header()] = None) -> Response:
        check(authorization)
        if job_id not in jobs:
            raise NotFound(f"No job {job_id}.")
        return _json(jobs[job_id])

    @router.post("/catalogue/layers/{slug}/versions/{version}/publish")
    async def publish(
        slug: str, version: int, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        check(authorization)

        def go() -> dict[str, Any]:
            with connect() as conn:
                return publish_version(conn, slug, version, actor="editor").__dict__

        return _json(await asyncio.to_thread(go))

    @router.post("/catalogue/layers/{slug}/rollback")
    async def rollback(
        slug: str, to: Annotated[int, Query()], authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        check(authorization)

        def go() -> dict[str, Any]:
            with connect() as conn:
                return rollback_to(conn, slug, to, actor="editor").__dict__

        return _json(await asyncio.to_thread(go))

    return router
