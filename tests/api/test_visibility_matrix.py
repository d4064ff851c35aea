"""Per-layer visibility by role: every endpoint that reaches a layer, by role, on public and internal layers.

An internal layer answers 404 to anonymous callers, exactly as an unknown layer does, and lists and
searches never include it; a viewer (or any stronger token) sees it; a revoked token is 401 everywhere.
Also: PATCH and DELETE of layers (admins), the visibility flip reaching the tiles within a second, and
the audit log.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from gis_platform.auth.tokens import create_token, revoke_token
from gis_platform.ingest.service import import_frame
from gis_platform.settings import TileSettings
from tests.conftest import LiveServer
from tests.factories import ensure_layer, point_frame

pytestmark = pytest.mark.db

PUBLIC, INTERNAL, OTHER, UNKNOWN = "vis-public", "vis-internal", "vis-other", "vis-nothere"
ROLES = ("anonymous", "viewer", "editor", "admin", "revoked")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a point."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


Z, X, Y = tile_of(106.7, 10.78, 12)


def _layer(conn: psycopg.Connection[Any], slug: str, visibility: str = "public") -> None:
    ensure_layer(conn, slug, "Point", visibility=visibility)
    conn.execute(
        "UPDATE catalogue.layer SET search_text = %s WHERE slug = %s", (f"visibility matrix {slug}", slug)
    )
    import_frame(conn, slug, point_frame(30), author="fixture", publish=True)


@pytest.fixture(scope="module")
def pg(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def tokens(pg: psycopg.Connection[Any]) -> dict[str, str | None]:
    made: dict[str, str | None] = {"anonymous": None}
    for role in ("viewer", "editor", "admin"):
        made[role], _ = create_token(pg, name=f"vis-{role}", role=role)
    made["revoked"], info = create_token(pg, name="vis-revoked", role="admin")
    revoke_token(pg, str(info.id))
    return made


@pytest.fixture(scope="module")
def server(
    make_server: Callable[..., LiveServer],
    db_url: str,
    pg: psycopg.Connection[Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveServer:
    for slug, visibility in ((PUBLIC, "public"), (INTERNAL, "internal"), (OTHER, "public")):
        _layer(pg, slug, visibility)
    tiles = TileSettings(cache_dir=tmp_path_factory.mktemp("vis-tiles") / "cache")
    staging = tmp_path_factory.mktemp("vis-staging")
    return make_server(db_url, tiles=tiles, ingest={"staging_dir": staging})


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def get(http: httpx.Client, tokens: dict[str, str | None], role: str, path: str) -> httpx.Response:
    token = tokens[role]
    return http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


# every route that reaches one layer ({slug}); tiles may be 204 (no features in that tile)
LAYER_PATHS = [
    "/catalogue/layers/{slug}",
    "/tiles/{slug}.json",
    f"/tiles/{{slug}}/{Z}/{X}/{Y}.mvt",
    f"/tiles/{{slug}}/{Z}/{X}/{Y}.pbf",
    f"/tiles/{{slug}}/v1/{Z}/{X}/{Y}.mvt",
    f"/tiles/{OTHER},{{slug}}/{Z}/{X}/{Y}.mvt",
    f"/tiles/{{slug}},{OTHER}.json",
    "/collections/{slug}",
    "/collections/{slug}?f=html",
    "/collections/{slug}/items",
    "/collections/{slug}/items?f=csv",
    "/collections/{slug}/items/1",
    "/collections/{slug}/queryables",
    "/collections/{slug}/download",
    "/collections/{slug}/tiles",
    "/collections/{slug}/tiles/WebMercatorQuad",
    f"/collections/{{slug}}/tiles/WebMercatorQuad/{Z}/{Y}/{X}",
    "/styles/{slug}.json",
    "/stats/aggregates?layer={slug}",
]


def _comparable(response: httpx.Response, slug: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return {k: (v.replace(slug, "<slug>") if isinstance(v, str) else v) for k, v in body.items()}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("template", LAYER_PATHS)
@pytest.mark.parametrize("slug", [PUBLIC, INTERNAL])
def test_layer_endpoints(
    http: httpx.Client, tokens: dict[str, str | None], template: str, role: str, slug: str
) -> None:
    response = get(http, tokens, role, template.format(slug=slug))
    if role == "revoked":
        assert response.status_code == 401, response.text
        assert "invalid_token" in response.headers["www-authenticate"]
    elif slug == INTERNAL and role == "anonymous":
        assert response.status_code == 404, response.text
        unknown = get(http, tokens, role, template.format(slug=UNKNOWN))
        assert unknown.status_code == 404
        assert _comparable(response, INTERNAL) == _comparable(unknown, UNKNOWN)
    else:
        # aggregates are computed after a publish: 409 until then
        assert response.status_code in ((200, 409) if "aggregates" in template else (200, 204)), response.text
        control = response.headers.get("cache-control", "")
        if slug == INTERNAL and ("/tiles/" in template or template.startswith("/styles/")):
            assert control.startswith("private"), control


LIST_PATHS = ["/catalogue/layers?limit=1000", "/catalogue/layers?q=visibility%20matrix", "/collections"]


def _slugs(path: str, body: dict[str, Any]) -> set[str]:
    if path.startswith("/collections"):
        return {c["id"] for c in body["collections"]}
    return {layer["slug"] for layer in body["layers"]}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", LIST_PATHS)
def test_lists_and_search(http: httpx.Client, tokens: dict[str, str | None], path: str, role: str) -> None:
    response = get(http, tokens, role, path)
    if role == "revoked":
        assert response.status_code == 401
        return
    assert response.status_code == 200, response.text
    slugs = _slugs(path, response.json())
    assert PUBLIC in slugs
    assert (INTERNAL in slugs) == (role != "anonymous")
    if role == "anonymous":
        assert INTERNAL not in response.text


def test_malformed_authorization_is_401(http: httpx.Client) -> None:
    for path in ("/catalogue/layers", f"/tiles/{PUBLIC}/{Z}/{X}/{Y}.mvt", f"/collections/{PUBLIC}/items"):
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer gis_not-a-token"):
            assert http.get(path, headers={"Authorization": header}).status_code == 401, (path, header)


def test_cached_internal_tile_is_not_served_to_anonymous(
    http: httpx.Client, tokens: dict[str, str | None]
) -> None:
    path = f"/tiles/{INTERNAL}/{Z}/{X}/{Y}.mvt"
    for _ in range(3):  # now in the memory cache, and the layer set resolved (the tile lane's fast path)
        assert get(http, tokens, "viewer", path).status_code in (200, 204)
    assert get(http, tokens, "anonymous", path).status_code == 404
    composite = f"/tiles/{OTHER},{INTERNAL}/v1,1/{Z}/{X}/{Y}.mvt"
    viewer = get(http, tokens, "viewer", composite)
    assert viewer.status_code in (200, 204)
    assert viewer.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert get(http, tokens, "anonymous", composite).status_code == 404
    public = get(http, tokens, "anonymous", f"/tiles/{OTHER}/v1/{Z}/{X}/{Y}.mvt")
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"


# --- PATCH and DELETE -------------------------------------------------------------------------------


def _send(
    http: httpx.Client, tokens: dict[str, str | None], role: str, method: str, path: str, **kw: Any
) -> Any:
    token = tokens[role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.request(method, path, headers=headers, **kw)


def _wait_for(check: Callable[[], bool], seconds: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def test_patch_needs_an_admin(http: httpx.Client, tokens: dict[str, str | None]) -> None:
    body = {"title_en": "Nope"}
    expected = {"anonymous": 401, "viewer": 403, "editor": 403, "revoked": 401}
    for role, status in expected.items():
        for method, kw in (("PATCH", {"json": body}), ("DELETE", {})):
            assert (
                _send(http, tokens, role, method, f"/catalogue/layers/{PUBLIC}", **kw).status_code == status
            )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"colour": "red"}, 422),
        ({"visibility": "secret"}, 422),
        ({"title_vi": None}, 422),
        ({"title_en": ""}, 422),
        ({"category": "no-such-category"}, 422),
        ({"keywords": "not-a-list"}, 422),
    ],
)
def test_patch_validates(
    http: httpx.Client, tokens: dict[str, str | None], body: dict[str, Any], status: int
) -> None:
    response = _send(http, tokens, "admin", "PATCH", f"/catalogue/layers/{PUBLIC}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_patch_unknown_layer_is_404(http: httpx.Client, tokens: dict[str, str | None]) -> None:
    response = _send(http, tokens, "admin", "PATCH", f"/catalogue/layers/{UNKNOWN}", json={"title_en": "x"})
    assert response.status_code == 404


def test_patch_metadata_and_search_text(
    http: httpx.Client, tokens: dict[str, str | None], pg: psycopg.Connection[Any]
) -> None:
    body = {"title_en": "Zebra crossings", "keywords": ["vạch kẻ đường"], "description_en": "Where to cross."}
    response = _send(http, tokens, "admin", "PATCH", f"/catalogue/layers/{OTHER}", json=body)
    assert response.status_code == 200, response.text
    layer = response.json()
    assert (layer["title_en"], layer["keywords"], layer["description_en"]) == (
        "Zebra crossings",
        ["vạch kẻ đường"],
        "Where to cross.",
    )
    found = http.get("/catalogue/layers", params={"q": "zebra"}).json()["layers"]
    assert [x["slug"] for x in found] == [OTHER]
    assert http.get("/catalogue/layers", params={"q": "vach ke duong"}).json()["layers"][0]["slug"] == OTHER


def test_visibility_flip_reaches_tiles_within_a_second(
    http: httpx.Client, tokens: dict[str, str | None], pg: psycopg.Connection[Any]
) -> None:
    _layer(pg, "vis-flip")
    tile = f"/tiles/vis-flip/{Z}/{X}/{Y}.mvt"
    _wait_for(lambda: http.get(tile).status_code in (200, 204), 5)
    for _ in range(3):  # in the tile lane's memory cache now
        assert http.get(tile).status_code in (200, 204)

    patched = _send(
        http, tokens, "admin", "PATCH", "/catalogue/layers/vis-flip", json={"visibility": "internal"}
    )
    assert patched.status_code == 200 and patched.json()["visibility"] == "internal"
    _wait_for(lambda: http.get(tile).status_code == 404, 1.0)
    for path in (
        "/tiles/vis-flip.json",
        "/collections/vis-flip",
        "/catalogue/layers/vis-flip",
        "/styles/vis-flip.json",
    ):
        assert http.get(path).status_code == 404, path
    assert get(http, tokens, "viewer", tile).status_code in (200, 204)

    back = _send(http, tokens, "admin", "PATCH", "/catalogue/layers/vis-flip", json={"visibility": "public"})
    assert back.status_code == 200
    _wait_for(lambda: http.get(tile).status_code in (200, 204), 1.0)


def test_delete_layer(http: httpx.Client, tokens: dict[str, str | None], pg: psycopg.Connection[Any]) -> None:
    _layer(pg, "vis-doomed")
    tile = f"/tiles/vis-doomed/{Z}/{X}/{Y}.mvt"
    _wait_for(lambda: http.get(tile).status_code in (200, 204), 5)
    tables = [r[0] for r in pg.execute(
        "SELECT v.table_name FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = 'vis-doomed'"
    )]  # fmt: skip
    assert tables

    assert _send(http, tokens, "admin", "DELETE", "/catalogue/layers/vis-doomed").status_code == 204
    assert _send(http, tokens, "admin", "DELETE", "/catalogue/layers/vis-doomed").status_code == 404
    assert get(http, tokens, "admin", "/catalogue/layers/vis-doomed").status_code == 404
    _wait_for(lambda: get(http, tokens, "admin", tile).status_code == 404, 1.0)
    for table in [*tables, "vis-doomed"]:
        assert pg.execute("SELECT to_regclass(%s)", (f'layerdata."{table}"',)).fetchone() == (None,)
    audit = pg.execute(
        "SELECT actor, role, version_before, version_after, details->'tables' FROM catalogue.audit_log "
        "WHERE action = 'layer.delete' AND target = 'vis-doomed'"
    ).fetchall()
    assert audit == [("token:vis-admin", "admin", 1, None, tables)]


# --- the audit log -------------------------------------------------------------------------------


def test_audit_log(http: httpx.Client, tokens: dict[str, str | None], pg: psycopg.Connection[Any]) -> None:
    assert _send(http, tokens, "anonymous", "GET", "/audit").status_code == 401
    assert _send(http, tokens, "viewer", "GET", "/audit").status_code == 403
    assert _send(http, tokens, "editor", "GET", "/audit").status_code == 403

    patched = _send(
        http, tokens, "admin", "PATCH", f"/catalogue/layers/{PUBLIC}", json={"agency": "Phường 9"}
    )
    assert patched.status_code == 200
    request_id = patched.headers["x-request-id"]

    page = _send(
        http, tokens, "admin", "GET", "/audit", params={"target": PUBLIC, "action": "layer.update"}
    ).json()
    event = page["events"][0]
    assert event["actor"] == "token:vis-admin" and event["role"] == "admin"
    assert (event["target_kind"], event["target"]) == ("layer", PUBLIC)
    assert (event["version_before"], event["version_after"]) == (1, 1)
    assert event["details"]["changes"]["agency"] == {"from": "Test", "to": "Phường 9"}
    assert event["request_id"] == request_id

    everything = _send(http, tokens, "admin", "GET", "/audit", params={"limit": 1000}).json()["events"]
    seen = {(e["action"], e["target"]) for e in everything}
    for slug in (PUBLIC, INTERNAL, OTHER):
        assert ("load", slug) in seen and ("publish", slug) in seen
    publish = next(e for e in everything if e["action"] == "publish" and e["target"] == INTERNAL)
    assert (publish["actor"], publish["version_before"], publish["version_after"]) == ("fixture", None, 1)
    token_events = [e for e in everything if e["target_kind"] == "token"]
    assert {e["action"] for e in token_events} == {"token.create", "token.revoke"}
    assert all(e["actor"].startswith("cli:") for e in token_events)

    # paging: newest first, the next link goes on below the last id
    first = _send(http, tokens, "admin", "GET", "/audit", params={"limit": 2}).json()
    assert first["numberReturned"] == 2
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = _send(http, tokens, "admin", "GET", nxt).json()
    assert second["events"][0]["id"] < first["events"][-1]["id"]
    since = _send(http, tokens, "admin", "GET", "/audit", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert since["events"] == []


def test_audit_cli(monkeypatch: pytest.MonkeyPatch, db_url: str, server: LiveServer) -> None:
    from typer.testing import CliRunner

    from gis_platform.cli import app as cli_app
    from gis_platform.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli_app, ["audit", "list", "--target", INTERNAL, "--limit", "5"], catch_exceptions=False
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "publish" in result.output and "fixture" in result.output and "load" in result.output


def test_internal_manifest_layers_and_sync_audit(
    http: httpx.Client, tokens: dict[str, str | None], db_url: str
) -> None:
    from gis_platform.catalogue import sync
    from gis_platform.catalogue.manifest import load_layer_set

    layer_set = load_layer_set()
    internal = sorted(m.slug for m in layer_set.manifests if m.visibility.value == "internal")
    assert "dan-cu-ho-gia-dinh" in internal  # residence and welfare data are for ward staff only
    with psycopg.connect(db_url) as conn:
        sync.sync_metadata(conn, layer_set, only=internal)
    for slug in internal:
        assert get(http, tokens, "anonymous", f"/catalogue/layers/{slug}").status_code == 404
        assert get(http, tokens, "viewer", f"/catalogue/layers/{slug}").status_code == 200
    listed = {x["slug"] for x in http.get("/catalogue/layers", params={"limit": 1000}).json()["layers"]}
    assert not listed & set(internal)
    events = _send(http, tokens, "admin", "GET", "/audit", params={"action": "layer.create", "limit": 1000})
    created = {e["target"]: e for e in events.json()["events"]}
    assert set(internal) <= set(created)
    assert created[internal[0]]["actor"].startswith("cli:")
    assert created[internal[0]]["details"] == {"source": "manifest"}


def test_uploads_are_audited_with_role_and_request(http: httpx.Client, tokens: dict[str, str | None]) -> None:
    layer = {
        "slug": "vis-upload", "title_vi": "Tải lên", "title_en": "Upload", "category": "test", "agency": "Test",
        "licence": "MIT", "attribution": "test", "geometry_type": "Point", "visibility": "internal",
    }  # fmt: skip
    created = _send(http, tokens, "editor", "POST", "/catalogue/layers", json=layer)
    assert created.status_code == 201, created.text
    geojson = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},'
        b'"geometry":{"type":"Point","coordinates":[106.7,10.78]}}]}'
    )
    posted = _send(http, tokens, "editor", "POST", "/catalogue/layers/vis-upload/versions",
                   files={"file": ("a.geojson", geojson)}, data={"publish": "true"})  # fmt: skip
    assert posted.status_code == 202, posted.text
    job = posted.json()["job"]["id"]
    _wait_for(lambda: get(http, tokens, "viewer", f"/jobs/{job}").json()["status"] == "succeeded", 30)
    assert get(http, tokens, "anonymous", "/collections/vis-upload").status_code == 404
    assert get(http, tokens, "viewer", "/collections/vis-upload").status_code == 200

    events = _send(http, tokens, "admin", "GET", "/audit", params={"target": "vis-upload"}).json()["events"]
    by_action = {e["action"]: e for e in events}
    assert set(by_action) == {"layer.create", "job.create", "load", "publish"}
    for event in events:
        assert (event["actor"], event["role"]) == ("token:vis-editor", "editor"), event
    assert by_action["layer.create"]["request_id"] == created.headers["x-request-id"]
    for action in ("job.create", "load", "publish"):  # the job's writes carry the upload's request
        assert by_action[action]["request_id"] == posted.headers["x-request-id"], action
    assert by_action["job.create"]["details"]["job"] == job
    assert (by_action["load"]["version_before"], by_action["load"]["version_after"]) == (None, 1)
    assert (by_action["publish"]["version_before"], by_action["publish"]["version_after"]) == (None, 1)
