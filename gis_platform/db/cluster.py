"""The platform's private embedded PostgreSQL+PostGIS cluster.

:class:`LocalCluster` keeps a whole PostgreSQL cluster under one directory (``.gis-platform`` by
default) so the platform runs without a system-wide database server::

    <data_dir>/pg/            PGDATA (initdb'ed with scram-sha-256 auth, UTF8, C.UTF-8 locale)
    <data_dir>/run/           Unix socket directory (a short /tmp/gis-platform-<hash> dir instead
                              when the socket path would be too long)
    <data_dir>/pg.password    random password of the cluster superuser (mode 0600)
    <data_dir>/pg.log         server log
    <data_dir>/cluster.json   state: the chosen port, socket dir and OS user
    <data_dir>/.cluster.lock  serialises concurrent ``up``/``down`` calls

The server listens on 127.0.0.1 and the Unix socket only; its port, listen address and socket
directory are written to ``pg/gis_platform.conf``, included from ``postgresql.conf``.

PostgreSQL refuses to run as root. When the current process is root, ``initdb`` and ``pg_ctl``
run as ``os_user`` (``postgres`` by default) through ``runuser`` (``setpriv`` as fallback) and the
``pg`` and ``run`` directories belong to that user; an already initialised cluster keeps running as
the owner of its ``pg`` directory. If ``os_user`` does not exist, a system user named
``gisplatform`` is created with ``useradd --system --no-create-home`` and used instead. When the
process is not root, everything runs as the current user and ``os_user`` is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from gis_platform.db.osuser import (
    FALLBACK_OS_USER,
    OsUser,
    as_user_prefix,
    check_traversable,
    resolve_os_user,
    user_name,
)
from gis_platform.db.pgsoftware import (
    EXTENSIONS,
    ClusterError,
    check_bin_dir,
    check_extensions_available,
    find_pg_bin_dir,
    has_c_utf8_locale,
    output,
    server_major,
    share_dir,
)
from gis_platform.db.processes import (
    LOCALHOST,
    free_port,
    is_postgres,
    port_is_free,
    postgres_pids,
    process_alive,
    process_cwd,
    read_pid_file,
    same_path,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXTENSIONS",
    "FALLBACK_OS_USER",
    "ClusterError",
    "ClusterStatus",
    "LocalCluster",
    "OsUser",
    "find_pg_bin_dir",
]

_TMP_ROOT = Path("/tmp")  # noqa: S108 - short socket dirs must live in a short path
_MAX_SOCKET_PATH = 100
_CONF_NAME = "gis_platform.conf"
_START_TIMEOUT_S = 30
_STOP_TIMEOUT_S = 60
_CONNECT_TIMEOUT_S = 5
_LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ClusterStatus:
    """Snapshot of the private cluster's state."""

    running: bool
    initialised: bool
    port: int | None
    pid: int | None
    data_dir: Path
    socket_dir: Path
    url: str | None


class LocalCluster:
    """A private PostgreSQL+PostGIS cluster living under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        preferred_port: int = 54329,
        os_user: str = "postgres",
        database: str = "gis_platform",
        superuser: str = "gis",
        pg_bin_dir: Path | None = None,
        tuning: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.preferred_port = preferred_port
        self.os_user = os_user
        self.database = database
        self.superuser = superuser
        self._pg_bin_dir_arg = pg_bin_dir
        #: server settings written with the port on every start (memory sized to the machine by default)
        self.tuning = dict(default_tuning() if tuning is None else tuning)
        self._bin_dir: Path | None = None
        self._major: int | None = None

    # ------------------------------------------------------------------ layout

    @property
    def pgdata(self) -> Path:
        """The PGDATA directory."""
        return self.data_dir / "pg"

    @property
    def run_dir(self) -> Path:
        """The private run directory (socket dir unless its path is too long)."""
        return self.data_dir / "run"

    @property
    def password_file(self) -> Path:
        """The file holding the superuser's password."""
        return self.data_dir / "pg.password"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self.data_dir / "pg.log"

    @property
    def state_file(self) -> Path:
        """The JSON file remembering the chosen port."""
        return self.data_dir / "cluster.json"

    @property
    def socket_dir(self) -> Path:
        """The Unix socket directory: ``run/`` or a short per-cluster dir under /tmp."""
        if len(str(self.run_dir / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
            return self.run_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return _TMP_ROOT / f"gis-platform-{digest}"

    @property
    def _lock_file(self) -> Path:
        return self.data_dir / ".cluster.lock"

    # ------------------------------------------------------------------ public API

    def up(self) -> ClusterStatus:
        """Initialise (first time), start (if stopped) and provision the cluster; return its status."""
        bin_dir = self._resolve_bin_dir()
        self._check_extensions_available()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            user = self._resolve_os_user()
            self._prepare_dirs(user)
            if not self._initialised():
                self._initdb(bin_dir, user)
            self._check_version(bin_dir)
            if not self.password_file.is_file():
                raise ClusterError(
                    f"The cluster in {self.pgdata} is initialised but its password file "
                    f"{self.password_file} is missing. Restore it, or delete {self.data_dir} to start over "
                    "(this deletes the data)."
                )
            if self._running_pid() is None:
                self._start(bin_dir, user)
            else:
                logger.debug("cluster in %s already running", self.pgdata)
            self._wait_ready(time.monotonic() + _START_TIMEOUT_S)
            self._ensure_database(self.database, template=None)
        return self.status()

    def down(self) -> None:
        """Stop the server (fast mode) if it is running; does nothing otherwise."""
        if not self.data_dir.is_dir():
            return
        with self._locked():
            pid = self._running_pid()
            if pid is None:
                logger.debug("cluster in %s is not running", self.pgdata)
                return
            logger.info("stopping PostgreSQL in %s (pid %s)", self.pgdata, pid)
            try:
                bin_dir: Path | None = self._resolve_bin_dir()
            except ClusterError:
                bin_dir = None
            if bin_dir is not None:
                user = self._resolve_os_user()
                cmd = [str(bin_dir / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"]
                result = self._run(
                    [*cmd, "-t", str(_STOP_TIMEOUT_S)], user=user, timeout=_STOP_TIMEOUT_S + 30
                )
                if result.returncode != 0 and self._running_pid() is not None:
                    raise ClusterError(
                        f"pg_ctl stop failed for {self.pgdata}: {output(result)}\n{self._log_tail()}"
                    )
            else:
                os.kill(pid, signal.SIGINT)  # the postmaster's "fast shutdown" signal
                deadline = time.monotonic() + _STOP_TIMEOUT_S
                while self._running_pid() is not None:
                    if time.monotonic() > deadline:
                        raise ClusterError(
                            f"PostgreSQL (pid {pid}) did not stop within {_STOP_TIMEOUT_S} s; "
                            f"see {self.log_file}.\n{self._log_tail()}"
                        )
                    time.sleep(0.1)

    def status(self) -> ClusterStatus:
        """Return the cluster's current status (never starts or changes anything)."""
        initialised = self._initialised()
        pid = self._running_pid() if initialised else None
        port = self._current_port(pid)
        url: str | None = None
        if initialised and port is not None and self.password_file.is_file():
            with contextlib.suppress(ClusterError):  # password file unreadable by this user
                url = self._make_url(self.database, port)
        return ClusterStatus(
            running=pid is not None,
            initialised=initialised,
            port=port,
            pid=pid,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            url=url,
        )

    def url(self, database: str | None = None) -> str:
        """Return ``postgresql://USER:PASSWORD@127.0.0.1:PORT/DB`` for ``database`` (default: the main)."""
        if not self._initialised() or not self.password_file.is_file():
            raise ClusterError(
                f"The private cluster in {self.data_dir} is not initialised; run `gis-platform db up` "
                "(LocalCluster.up()) first."
            )
        port = self._current_port(self._running_pid())
        if port is None:
            raise ClusterError(
                f"The private cluster in {self.data_dir} has never been started, so it has no port yet; "
                "run `gis-platform db up` (LocalCluster.up()) first."
            )
        return self._make_url(database or self.database, port)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` (cloned from ``template`` if given, else with the extensions); return its URL.

        An existing database of that name is kept as it is (its extensions are ensured when no template
        is given).
        """
        with self._locked():
            self._require_running()
            self._ensure_database(name, template=template)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` ``WITH (FORCE)``, disconnecting its sessions; does nothing if it does not exist."""
        if name in {"postgres", "template0", "template1"}:
            raise ClusterError(
                f"Refusing to drop {name!r}: the cluster needs it. Delete {self.data_dir} to reset all."
            )
        with self._locked():
            self._require_running()
            with self._connect("postgres") as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        logger.info("dropped database %s (if it existed)", name)

    # ------------------------------------------------------------------ software checks

    def _resolve_bin_dir(self) -> Path:
        if self._bin_dir is not None:
            return self._bin_dir
        if self._pg_bin_dir_arg is not None:
            bin_dir = Path(self._pg_bin_dir_arg)
            check_bin_dir(bin_dir)
        else:
            bin_dir = find_pg_bin_dir(self._data_major())
        self._major = server_major(bin_dir)
        self._bin_dir = bin_dir
        return bin_dir

    def _check_extensions_available(self) -> None:
        check_extensions_available(share_dir(self._resolve_bin_dir(), self._major), self._major)

    def _data_major(self) -> int | None:
        try:
            text = (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _check_version(self, bin_dir: Path) -> None:
        data_major = self._data_major()
        if data_major is not None and data_major != self._major:
            raise ClusterError(
                f"The cluster in {self.pgdata} was created by PostgreSQL {data_major} but the binaries in "
                f"{bin_dir} are PostgreSQL {self._major}. Install `postgresql-{data_major}` "
                f"(and `postgresql-{data_major}-postgis-3`) or point pg_bin_dir at its bin directory."
            )

    # ------------------------------------------------------------------ OS user and directories

    def _resolve_os_user(self) -> OsUser:
        return resolve_os_user(self.pgdata, self.run_dir, self.os_user)

    def _prepare_dirs(self, user: OsUser) -> None:
        if not user.is_current:
            check_traversable(self.data_dir, user)
        for directory in (self.pgdata, self.run_dir, self.socket_dir):
            if directory.is_symlink():
                raise ClusterError(
                    f"{directory} is a symlink; remove it so the cluster can make a directory."
                )
            try:
                directory.mkdir(mode=0o700)
                created = True
            except FileExistsError:
                created = False
            owner_uid = directory.stat().st_uid
            if owner_uid != user.uid:
                owner = user_name(owner_uid)
                if user.is_current:
                    raise ClusterError(
                        f"{directory} belongs to {owner!r}, not {user.name!r}; remove it or run as {owner!r}."
                    )
                if directory == self.socket_dir and directory != self.run_dir and not created:
                    raise ClusterError(
                        f"The socket directory {directory} belongs to {owner!r}, not {user.name!r}; "
                        "remove it (another user may have created it)."
                    )
                os.chown(directory, user.uid, user.gid)
            directory.chmod(0o700)
        if not self.log_file.exists():
            self.log_file.touch(mode=0o640)
        if not user.is_current and self.log_file.stat().st_uid != user.uid:
            os.chown(self.log_file, user.uid, user.gid)

    # ------------------------------------------------------------------ initdb

    def _initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    def _initdb(self, bin_dir: Path, user: OsUser) -> None:
        if any(self.pgdata.iterdir()):
            raise ClusterError(
                f"{self.pgdata} is not empty but holds no PostgreSQL cluster (no PG_VERSION). "
                "Move it away or delete it, then run up() again."
            )
        password = self._ensure_password()
        if user.is_current:
            pwfile = self.password_file
        else:
            pwfile = self.run_dir / ".initdb-password"
            pwfile.unlink(missing_ok=True)
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password)
            os.chown(pwfile, user.uid, user.gid)
        locale = "C.UTF-8" if has_c_utf8_locale() else "C"
        cmd = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            self.superuser,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            f"--locale={locale}",
        ]
        logger.info("initialising PostgreSQL %s cluster in %s (locale %s)", self._major, self.pgdata, locale)
        try:
            result = self._run(cmd, user=user, timeout=300)
        finally:
            if pwfile != self.password_file:
                pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ClusterError(
                f"initdb failed for {self.pgdata} (exit {result.returncode}): {output(result)}. "
                f"Fix the cause above, empty {self.pgdata} and run up() again."
            )
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# Added by gis_platform: port, listen address and socket dir.\n")
            handle.write(f"include_if_exists = '{_CONF_NAME}'\n")

    def _ensure_password(self) -> str:
        if self.password_file.is_file():
            password = self.password_file.read_text(encoding="utf-8").strip()
            if password:
                return password
            self.password_file.unlink()
        password = secrets.token_urlsafe(32)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password)
        return password

    def _password(self) -> str:
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ClusterError(
                f"Cannot read the cluster password file {self.password_file} ({exc}); run as its owner."
            ) from exc

    # ------------------------------------------------------------------ start / readiness

    def _start(self, bin_dir: Path, user: OsUser) -> None:
        self._remove_stale_files()
        attempts = 3
        for attempt in range(1, attempts + 1):
            port = self._choose_port()
            self._write_server_conf(port, user)
            self._write_state(port, user)
            logger.info("starting PostgreSQL in %s on %s:%s", self.pgdata, LOCALHOST, port)
            cmd = [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
            ]
            result = self._run(cmd, user=user, timeout=_START_TIMEOUT_S + 30, new_session=True)
            if result.returncode == 0:
                return
            if self._running_pid() is None and not port_is_free(port) and attempt < attempts:
                logger.warning("port %s was taken while starting; choosing another", port)
                self._remove_stale_files()
                continue
            raise ClusterError(
                f"PostgreSQL in {self.pgdata} did not start (pg_ctl exit {result.returncode}): "
                f"{output(result)}\nLast lines of {self.log_file}:\n{self._log_tail()}"
            )

    def _remove_stale_files(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            info = read_pid_file(pid_file)
            logger.warning(
                "removing stale %s (pid %s is not a running postmaster of this cluster); "
                "PostgreSQL will run crash recovery",
                pid_file,
                info.pid if info else "?",
            )
            pid_file.unlink()
        self._wait_for_orphans()
        for lock in self.socket_dir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def _wait_for_orphans(self) -> None:
        """Wait for backends of a crashed postmaster to exit (they still hold its shared memory)."""
        deadline = time.monotonic() + 15
        while True:
            orphans = [pid for pid in postgres_pids() if same_path(process_cwd(pid), self.pgdata)]
            if not orphans:
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"Processes {orphans} of a crashed PostgreSQL still use {self.pgdata}; "
                    f"stop them (`kill {' '.join(map(str, orphans))}`) and run up() again."
                )
            time.sleep(0.1)

    def _wait_ready(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._running_pid() is None:
                raise ClusterError(
                    f"PostgreSQL in {self.pgdata} exited while starting.\n"
                    f"Last lines of {self.log_file}:\n{self._log_tail()}"
                )
            try:
                with self._connect("postgres") as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.2)
        raise ClusterError(
            f"PostgreSQL in {self.pgdata} did not accept connections within {_START_TIMEOUT_S} s "
            f"({last_error}).\nLast lines of {self.log_file}:\n{self._log_tail()}"
        )

    def _write_server_conf(self, port: int, user: OsUser) -> None:
        lines = [
            "# Written by gis_platform.db.cluster on every start; edits are overwritten.",
            f"port = {port}",
            f"listen_addresses = {_conf_quote(LOCALHOST)}",
            f"unix_socket_directories = {_conf_quote(str(self.socket_dir))}",
            *(f"{name} = {_conf_quote(value)}" for name, value in self.tuning.items()),
            "",
        ]
        target = self.pgdata / _CONF_NAME
        tmp = target.with_suffix(".conf.tmp")
        tmp.write_text("\n".join(lines), encoding="utf-8")
        tmp.chmod(0o600)
        if not user.is_current:
            os.chown(tmp, user.uid, user.gid)
        os.replace(tmp, target)

    # ------------------------------------------------------------------ port and state

    def _choose_port(self) -> int:
        remembered = self._state_port()
        for candidate in (remembered, self.preferred_port):
            if candidate is not None and port_is_free(candidate):
                return candidate
        port = free_port()
        logger.info("port %s is busy; using free port %s", remembered or self.preferred_port, port)
        return port

    def _state_port(self) -> int | None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        port = state.get("port") if isinstance(state, dict) else None
        return port if isinstance(port, int) else None

    def _write_state(self, port: int, user: OsUser) -> None:
        state = {"port": port, "socket_dir": str(self.socket_dir), "os_user": user.name}
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_file)

    def _current_port(self, running_pid: int | None) -> int | None:
        if running_pid is not None:
            info = read_pid_file(self.pgdata / "postmaster.pid")
            if info is not None and info.port is not None:
                return info.port
        return self._state_port()

    # ------------------------------------------------------------------ process inspection

    def _running_pid(self) -> int | None:
        """Return the postmaster's PID if this cluster's server is alive, else None."""
        info = read_pid_file(self.pgdata / "postmaster.pid")
        if info is None or not process_alive(info.pid) or not is_postgres(info.pid):
            return None
        cwd = process_cwd(info.pid)
        if cwd is not None and not same_path(cwd, self.pgdata):
            return None  # a recycled PID now used by another PostgreSQL
        return info.pid

    def _require_running(self) -> None:
        if self._running_pid() is None:
            raise ClusterError(
                f"The private cluster in {self.data_dir} is not running; run `gis-platform db up` "
                "(LocalCluster.up()) first."
            )

    # ------------------------------------------------------------------ SQL

    def _make_url(self, database: str, port: int) -> str:
        user = quote(self.superuser, safe="")
        password = quote(self._password(), safe="")
        return f"postgresql://{user}:{password}@{LOCALHOST}:{port}/{quote(database, safe='')}"

    def _connect(self, database: str) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)

    def _ensure_database(self, name: str, template: str | None) -> None:
        try:
            self._create_database_and_extensions(name, template)
        except psycopg.Error as exc:
            hint = f"; is PostGIS installed (`apt-get install postgresql-{self._major}-postgis-3`)?"
            raise ClusterError(
                f"Could not provision database {name!r} in the private cluster: {exc}".rstrip()
                + (hint if template is None else f"; does template {template!r} exist and is it unused?")
            ) from exc

    def _create_database_and_extensions(self, name: str, template: str | None) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template is not None:
                    query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                conn.execute(query)
                logger.info("created database %s%s", name, f" from template {template}" if template else "")
        if template is None:
            with self._connect(name) as conn:
                for extension in EXTENSIONS:
                    create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {}")
                    conn.execute(create.format(sql.Identifier(extension)))

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(
        self, cmd: Sequence[str], *, user: OsUser, timeout: float, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = [*as_user_prefix(user), *cmd]
        logger.debug("running %s", argv)
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        try:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=new_session,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"`{' '.join(cmd)}` did not finish within {timeout} s.\n"
                f"Last lines of {self.log_file}:\n{self._log_tail()}"
            ) from exc
        except OSError as exc:
            raise ClusterError(f"Cannot run {argv[0]}: {exc}") from exc

    def _log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def default_tuning(memory_bytes: int | None = None) -> dict[str, str]:
    """Memory settings for a machine of ``memory_bytes`` (default: this one's RAM).

    PostgreSQL's defaults (128 MB shared buffers, 4 MB work_mem) suit a tiny VM; layer tables of a million
    features then come from the OS cache page by page. An eighth of RAM (at most 1 GB: several clusters may
    share a machine, and the OS cache does the rest) holds the hot layers; the rest follows the usual
    guidance (effective_cache_size about half of RAM).
    """
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory_bytes = 2 << 30
    mb = max(memory_bytes >> 20, 512)
    return {
        "shared_buffers": f"{min(mb // 8, 1024)}MB",
        "effective_cache_size": f"{max(mb // 2, 256)}MB",
        "work_mem": "16MB" if mb >= 4096 else "4MB",
        "maintenance_work_mem": f"{min(mb // 16, 512)}MB",
    }
