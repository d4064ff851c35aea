"""Integration tests for the private PostgreSQL+PostGIS cluster (real initdb/pg_ctl, ~10 s)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gis_platform.db.cluster import ClusterError, LocalCluster, find_pg_bin_dir

pytestmark = pytest.mark.db


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _traversable_tmp_dir() -> Path:
    """A fresh dir under /tmp that the ``postgres`` user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="gis-cluster-test-", dir="/tmp"))
    path.chmod(0o755)
    for parent in path.parents:
        assert parent.stat().st_mode & stat.S_IXOTH, f"{parent} is not traversable by other users"
    return path


def _wait_dead(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return
        if state in {"Z", "X"}:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not die")


def _query(url: str, query: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    try:
        bin_dir = find_pg_bin_dir()
    except ClusterError as exc:
        pytest.skip(str(exc))
    major = bin_dir.parent.name
    if not Path(f"/usr/share/postgresql/{major}/extension/postgis.control").is_file():
        pytest.skip(f"PostGIS for PostgreSQL {major} is not installed")
    path = _traversable_tmp_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(base_dir: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(base_dir / "main", preferred_port=_free_port())
    try:
        yield local
    finally:
        local.down()


def test_up_status_down_up_keeps_url(cluster: LocalCluster) -> None:
    before = cluster.status()
    assert not before.running
    assert not before.initialised
    assert before.url is None
    with pytest.raises(ClusterError, match="up"):
        cluster.url()

    status = cluster.up()
    assert status.running
    assert status.initialised
    assert status.pid is not None
    assert status.port == cluster.preferred_port
    assert status.url == cluster.url()
    assert status.url is not None
    assert status.url.startswith("postgresql://gis:") and status.url.endswith(
        f"@127.0.0.1:{status.port}/gis_platform"
    )
    assert cluster.status() == status

    version = _query(status.url, "SELECT postgis_full_version()")
    assert "POSTGIS=" in str(version)
    with psycopg.connect(status.url) as conn:
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        encoding = conn.execute("SHOW server_encoding").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        shared = conn.execute(
            "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
        )
        shared_mb = shared.fetchone()
    assert {"postgis", "unaccent", "pg_trgm", "btree_gist"} <= extensions
    assert encoding == ("UTF8",)
    assert listen == ("127.0.0.1",)
    # memory sized to the machine, not PostgreSQL's 128 MB default (on machines above 1 GB of RAM)
    assert shared_mb == (int(cluster.tuning["shared_buffers"].removesuffix("MB")),)

    password_file = cluster.data_dir / "pg.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert json.loads((cluster.data_dir / "cluster.json").read_text())["port"] == status.port
    assert (cluster.data_dir / "pg.log").stat().st_size > 0
    if os.geteuid() == 0:
        assert (cluster.data_dir / "pg").stat().st_uid != 0

    again = cluster.up()  # idempotent: same server, same port
    assert again.pid == status.pid
    assert again.port == status.port

    cluster.down()
    stopped = cluster.status()
    assert not stopped.running
    assert stopped.initialised
    assert stopped.pid is None
    assert stopped.url == status.url  # the port is remembered
    cluster.down()  # idempotent

    restarted = cluster.up()
    assert restarted.running
    assert restarted.url == status.url
    assert _query(cluster.url(), "SELECT 1") == 1


def test_killed_postmaster_is_recovered(cluster: LocalCluster) -> None:
    status = cluster.up()
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    _wait_dead(status.pid)
    assert (cluster.data_dir / "pg" / "postmaster.pid").exists()  # left behind by the crash
    assert not cluster.status().running

    recovered = cluster.up()
    assert recovered.running
    assert recovered.pid != status.pid
    assert recovered.url == status.url
    assert _query(cluster.url(), "SELECT extname FROM pg_extension WHERE extname = 'postgis'") == "postgis"


def test_pid_file_of_unrelated_process_is_ignored(cluster: LocalCluster) -> None:
    url = cluster.up().url
    cluster.down()
    pid_file = cluster.data_dir / "pg" / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{cluster.data_dir / 'pg'}\n0\n{cluster.status().port}\n")
    status = cluster.status()
    assert not status.running  # the PID is alive but it is this Python process, not a postmaster

    restarted = cluster.up()
    assert restarted.running
    assert restarted.pid != os.getpid()
    assert restarted.url == url
    assert _query(cluster.url(), "SELECT 1") == 1


def test_create_and_drop_database(cluster: LocalCluster) -> None:
    cluster.up()
    url = cluster.create_database("gp_test_scratch")
    assert url == cluster.url("gp_test_scratch")
    assert url.endswith("/gp_test_scratch")
    assert "POSTGIS=" in str(_query(url, "SELECT postgis_full_version()"))
    assert cluster.create_database("gp_test_scratch") == url  # existing database is kept

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (id int)")
    clone_url = cluster.create_database("gp_test_clone", template="gp_test_scratch")
    assert _query(clone_url, "SELECT count(*) FROM marker") == 0

    held_open = psycopg.connect(url, autocommit=True)
    try:
        cluster.drop_database("gp_test_scratch")  # WITH (FORCE) terminates the open session
        with pytest.raises(psycopg.OperationalError):
            held_open.execute("SELECT 1")
    finally:
        held_open.close()
    cluster.drop_database("gp_test_clone")
    cluster.drop_database("gp_test_clone")  # idempotent
    with psycopg.connect(cluster.url("postgres")) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert "gp_test_scratch" not in names
    assert "gp_test_clone" not in names
    with pytest.raises(ClusterError, match="Refusing"):
        cluster.drop_database("template1")


def test_busy_preferred_port_chooses_another(base_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = int(blocker.getsockname()[1])
        local = LocalCluster(base_dir / "busy", preferred_port=taken)
        try:
            status = local.up()
            assert status.port is not None
            assert status.port != taken
            assert _query(local.url(), "SELECT 1") == 1
            first_port = status.port

            local.down()
            assert local.status().port == first_port  # remembered while stopped
            assert local.up().port == first_port  # still free: reused

            local.down()
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second_blocker:
                # SO_REUSEADDR: the stopped server's connections may still be in TIME_WAIT.
                second_blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                second_blocker.bind(("127.0.0.1", first_port))
                second_blocker.listen()
                moved = local.up()
            assert moved.port not in {None, taken, first_port}
            assert local.url() == moved.url
            assert _query(local.url(), "SELECT 1") == 1
        finally:
            local.down()


def test_missing_binaries_raise_cluster_error(base_dir: Path) -> None:
    local = LocalCluster(base_dir / "nobin", pg_bin_dir=Path("/nonexistent"))
    with pytest.raises(ClusterError, match="postgresql"):
        local.up()
    assert not local.status().running
    local.down()  # nothing to stop


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another OS user")
def test_untraversable_data_dir_is_explained(base_dir: Path) -> None:
    private = base_dir / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    local = LocalCluster(private / "gp")
    with pytest.raises(ClusterError, match="not traversable"):
        local.up()


def test_long_data_dir_uses_short_socket_dir() -> None:
    local = LocalCluster(Path("/tmp") / ("x" * 120) / "gp")
    assert local.socket_dir.parent == Path("/tmp")
    assert local.socket_dir.name.startswith("gis-platform-")
    assert len(str(local.socket_dir / ".s.PGSQL.65535")) <= 100
    assert LocalCluster(Path("/srv/gp")).socket_dir == Path("/srv/gp/run")


def test_find_pg_bin_dir() -> None:
    bin_dir = find_pg_bin_dir()
    assert (bin_dir / "initdb").is_file()
    assert find_pg_bin_dir(preferred_major=1) == bin_dir  # unknown major: falls back to the newest


def test_missing_postgis_raises_cluster_error(base_dir: Path) -> None:
    fake_bin = base_dir / "fake-bin"
    fake_bin.mkdir()
    for name in ("initdb", "pg_ctl", "postgres"):
        script = fake_bin / name
        script.write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 99.1'\n")
        script.chmod(0o755)
    local = LocalCluster(base_dir / "nopostgis", pg_bin_dir=fake_bin)
    with pytest.raises(ClusterError, match=r"apt-get install postgresql-99-postgis-3"):
        local.up()
