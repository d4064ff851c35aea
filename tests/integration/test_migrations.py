import psycopg
import pytest

from gis_platform.db import migrate

pytestmark = pytest.mark.db


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace").fetchall()
    return {r[0] for r in rows}


def _extensions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}


def test_upgrade_creates_schemas_and_extensions_and_downgrade_removes_them(fresh_db: str) -> None:
    assert migrate.current_revision(fresh_db) is None
    migrate.upgrade(fresh_db)
    assert migrate.current_revision(fresh_db) == migrate.head_revision()
    assert {"catalogue", "layerdata", "admin", "stats"} <= _schemas(fresh_db)
    assert {"postgis", "unaccent", "pg_trgm"} <= _extensions(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT public.f_unaccent('Phường Đa Kao')").fetchone() == ("phuong da kao",)
        assert conn.execute("SELECT to_regclass('admin.admin_unit')").fetchone() == ("admin.admin_unit",)

    migrate.downgrade(fresh_db, "0001")
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('admin.admin_unit')").fetchone() == (None,)

    migrate.downgrade(fresh_db, "base")
    assert migrate.current_revision(fresh_db) is None
    assert not ({"catalogue", "layerdata", "admin", "stats"} & _schemas(fresh_db))

    # and up again: downgrade leaves nothing behind that blocks a new upgrade
    migrate.upgrade(fresh_db)
    assert migrate.current_revision(fresh_db) == migrate.head_revision()


def test_every_revision_steps_up_and_down(fresh_db: str) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(fresh_db))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions[0] == "0001"
    for rev in revisions:
        migrate.upgrade(fresh_db, rev)
        assert migrate.current_revision(fresh_db) == rev
    for rev in reversed(revisions[:-1]):
        migrate.downgrade(fresh_db, rev)
        assert migrate.current_revision(fresh_db) == rev
