"""The CLI through its real console script, on a throw-away private cluster and on DATABASE_URL."""

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gis_platform.settings import REPO_ROOT
from tests.conftest import Server

pytestmark = pytest.mark.db

CLI = str(REPO_ROOT / ".venv" / "bin" / "gis-platform")


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GIS_") and k != "DATABASE_URL"}
    full_env.update(env)
    full_env["COLUMNS"] = "200"
    proc = subprocess.run(
        [CLI, *args], env=full_env, capture_output=True, text=True, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def private_env(scratch_dir: Path) -> Iterator[dict[str, str]]:
    env = {"GIS_DB__DATA_DIR": str(scratch_dir / "state"), "GIS_DB__PREFERRED_PORT": "54359"}
    yield env
    run("db", "down", env=env, check=False)


def test_private_cluster_lifecycle_migrate_and_idempotent_load(private_env: dict[str, str]) -> None:
    status = run("db", "status", env=private_env, check=False)
    assert status.returncode == 3 and "not created" in status.stdout

    assert "running" in run("db", "up", env=private_env).stdout
    assert "running" in run("db", "up", env=private_env).stdout  # idempotent
    url = run("db", "url", env=private_env).stdout.strip()
    assert url.startswith("postgresql://") and "127.0.0.1" in url

    assert "revision" in run("migrate", env=private_env).stdout
    first = run("demo", "load", env=private_env).stdout
    assert "hcmc-wards-2025-07-01" in first
    second = run("demo", "load", env=private_env).stdout
    assert "0 rows changed" in second

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM admin.admin_unit WHERE level = 'ward'").fetchone()
    assert row == (168 + 273,)

    run("db", "down", env=private_env)
    stopped = run("db", "status", env=private_env, check=False)
    assert stopped.returncode == 3 and "stopped" in stopped.stdout
    assert run("db", "url", env=private_env).stdout.strip() == url  # the URL survives a restart
    run("db", "up", env=private_env)
    assert run("db", "url", env=private_env).stdout.strip() == url


def test_taken_port_makes_db_up_pick_another(private_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        env = {**private_env, "GIS_DB__PREFERRED_PORT": str(taken)}
        run("db", "up", env=env)
        url = run("db", "url", env=env).stdout.strip()
    assert f":{taken}/" not in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_missing_postgresql_names_the_package(private_env: dict[str, str]) -> None:
    proc = run("db", "up", env={**private_env, "GIS_DB__PG_BIN_DIR": "/nonexistent/bin"}, check=False)
    assert proc.returncode != 0
    assert "postgresql" in (proc.stdout + proc.stderr).lower()


def test_database_url_is_used_instead_of_the_private_cluster(pg_server: Server, scratch_dir: Path) -> None:
    name = "gis_cli_external"
    pg_server.drop_database(name)
    url = pg_server.create_database(name)
    env = {"DATABASE_URL": url, "GIS_DB__DATA_DIR": str(scratch_dir / "unused")}
    try:
        assert run("db", "url", env=env).stdout.strip() == url
        assert "DATABASE_URL is set" in run("db", "up", env=env).stdout
        run("migrate", env=env)
        run("demo", "load", env=env)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM admin.admin_unit WHERE valid_to IS NULL AND level='ward'"
            )
            assert row.fetchone() == (168,)
        assert run("db", "down", env=env, check=False).returncode != 0
        # no private cluster was created
        assert not (scratch_dir / "unused" / "pg").exists()
    finally:
        pg_server.drop_database(name)
