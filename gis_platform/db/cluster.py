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
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

logger = logging.getLogger(__name__)

#: Extensions created in every database the cluster makes (unless it is cloned from a template).
EXTENSIONS: tuple[str, ...] = ("postgis", "unaccent", "pg_trgm", "btree_gist")

#: System user created when running as root and ``os_user`` does not exist.
FALLBACK_OS_USER = "gisplatform"

_PG_ROOT = Path("/usr/lib/postgresql")
_SHARE_ROOT = Path("/usr/share/postgresql")
_TMP_ROOT = Path("/tmp")  # noqa: S108 - short socket dirs must live in a short path
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_MAX_SOCKET_PATH = 100
_LOCALHOST = "127.0.0.1"
_CONF_NAME = "gis_platform.conf"
_START_TIMEOUT_S = 30
_STOP_TIMEOUT_S = 60
_CONNECT_TIMEOUT_S = 5
_LOG_TAIL_LINES = 25


class ClusterError(Exception):
    """The private cluster cannot be set up, started or used; the message says how to fix it."""


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


@dataclass(frozen=True)
class _OsUser:
    """The OS account that owns PGDATA and runs the server."""

    name: str
    uid: int
    gid: int
    is_current: bool


@dataclass(frozen=True)
class _PidFile:
    """The interesting lines of ``postmaster.pid``."""

    pid: int
    port: int | None


def find_pg_bin_dir(preferred_major: int | None = None) -> Path:
    """Return the newest ``/usr/lib/postgresql/N/bin`` holding ``initdb`` (``preferred_major`` first)."""
    candidates: dict[int, Path] = {}
    if _PG_ROOT.is_dir():
        for entry in _PG_ROOT.iterdir():
            bin_dir = entry / "bin"
            if entry.name.isdigit() and _has_binaries(bin_dir):
                candidates[int(entry.name)] = bin_dir
    if preferred_major is not None and preferred_major in candidates:
        return candidates[preferred_major]
    if candidates:
        newest = max(candidates)
        if preferred_major is not None:
            logger.warning("PostgreSQL %s binaries not found; using version %s", preferred_major, newest)
        return candidates[newest]
    on_path = shutil.which("initdb")
    if on_path is not None and _has_binaries(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    raise ClusterError(
        f"No PostgreSQL server binaries (initdb, pg_ctl, postgres) found under {_PG_ROOT}/N/bin or on PATH. "
        "Install them with `apt-get install postgresql-15 postgresql-15-postgis-3` (or `make install`), "
        "or point pg_bin_dir (GIS_DB__PG_BIN_DIR) at the directory holding initdb."
    )


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
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.preferred_port = preferred_port
        self.os_user = os_user
        self.database = database
        self.superuser = superuser
        self._pg_bin_dir_arg = pg_bin_dir
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
                        f"pg_ctl stop failed for {self.pgdata}: {_output(result)}\n{self._log_tail()}"
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
            if not _has_binaries(bin_dir):
                missing = [name for name in _REQUIRED_BINARIES if not _is_executable(bin_dir / name)]
                raise ClusterError(
                    f"No PostgreSQL server binaries in {bin_dir} (missing: {', '.join(missing)}). "
                    "Install them with `apt-get install postgresql-15 postgresql-15-postgis-3` "
                    "(or `make install`), or fix pg_bin_dir (GIS_DB__PG_BIN_DIR)."
                )
        else:
            bin_dir = find_pg_bin_dir(self._data_major())
        self._major = _server_major(bin_dir)
        self._bin_dir = bin_dir
        return bin_dir

    def _share_dir(self) -> Path:
        bin_dir = self._resolve_bin_dir()
        major = self._major
        candidates = [
            _SHARE_ROOT / str(major),
            bin_dir.parent / "share" / "postgresql",
            bin_dir.parent / "share",
        ]
        for candidate in candidates:
            if (candidate / "extension" / "plpgsql.control").is_file():
                return candidate
        return candidates[0]

    def _check_extensions_available(self) -> None:
        ext_dir = self._share_dir() / "extension"
        major = self._major
        if not (ext_dir / "postgis.control").is_file():
            raise ClusterError(
                f"PostGIS is not installed for PostgreSQL {major} ({ext_dir / 'postgis.control'} missing). "
                f"Install it with `apt-get install postgresql-{major}-postgis-3` (or `make install`)."
            )
        missing = [ext for ext in EXTENSIONS if not (ext_dir / f"{ext}.control").is_file()]
        if missing:
            raise ClusterError(
                f"PostgreSQL extensions {', '.join(missing)} are missing from {ext_dir}. They ship with the "
                f"server's contrib modules: `apt-get install postgresql-{major}` (or `make install`)."
            )

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

    def _resolve_os_user(self) -> _OsUser:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            if self.pgdata.exists() and self.pgdata.stat().st_uid != os.geteuid():
                owner = _user_name(self.pgdata.stat().st_uid)
                raise ClusterError(
                    f"{self.pgdata} belongs to {owner!r}, not to the current user {entry.pw_name!r}. "
                    f"Run as {owner!r} (or root), or use another data dir (GIS_DB__DATA_DIR)."
                )
            return _OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=True)
        if (self.pgdata / "PG_VERSION").is_file():
            owner_uid = self.pgdata.stat().st_uid
            if owner_uid == 0:
                raise ClusterError(
                    f"{self.pgdata} belongs to root, but PostgreSQL refuses to run as root. "
                    f"Give it to the server's user: `chown -R {self.os_user}: {self.pgdata}`."
                )
            try:
                entry = pwd.getpwuid(owner_uid)
            except KeyError:
                raise ClusterError(
                    f"{self.pgdata} belongs to uid {owner_uid}, which has no user account. "
                    f"`chown -R {self.os_user}: {self.pgdata} {self.run_dir}` to hand it to {self.os_user!r}."
                ) from None
            if entry.pw_name != self.os_user:
                logger.info("running the existing cluster as its owner %s", entry.pw_name)
            return _OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=False)
        name = self.os_user
        if name == "root":
            raise ClusterError("os_user must not be root: PostgreSQL refuses to run as root. Use `postgres`.")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            entry = self._create_fallback_user(name)
        if entry.pw_uid == 0:
            raise ClusterError(f"os_user {name!r} has uid 0; PostgreSQL refuses to run as root.")
        return _OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=False)

    def _create_fallback_user(self, wanted: str) -> pwd.struct_passwd:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(FALLBACK_OS_USER)
        logger.warning(
            "OS user %s does not exist; creating system user %s to run PostgreSQL", wanted, FALLBACK_OS_USER
        )
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_OS_USER]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except OSError as exc:
            raise ClusterError(
                f"OS user {wanted!r} does not exist and {FALLBACK_OS_USER!r} could not be created ({exc}). "
                f"Create one (`useradd --system {FALLBACK_OS_USER}`) or set os_user (GIS_DB__OS_USER)."
            ) from exc
        if result.returncode != 0:
            raise ClusterError(
                f"OS user {wanted!r} does not exist and `useradd {FALLBACK_OS_USER}` failed "
                f"({_output(result)}); "
                "Create a user for PostgreSQL and set os_user (GIS_DB__OS_USER)."
            )
        return pwd.getpwnam(FALLBACK_OS_USER)

    def _prepare_dirs(self, user: _OsUser) -> None:
        if not user.is_current:
            self._check_traversable(user)
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
                owner = _user_name(owner_uid)
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

    def _check_traversable(self, user: _OsUser) -> None:
        groups = set(os.getgrouplist(user.name, user.gid))
        for directory in [*reversed(self.data_dir.parents), self.data_dir]:
            st = directory.stat()
            if st.st_uid == user.uid:
                allowed = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid in groups:
                allowed = bool(st.st_mode & stat.S_IXGRP)
            else:
                allowed = bool(st.st_mode & stat.S_IXOTH)
            if not allowed:
                raise ClusterError(
                    f"The data dir {self.data_dir} is not reachable by OS user {user.name!r}, which runs "
                    "PostgreSQL because PostgreSQL refuses to run as root: "
                    f"{directory} (mode {stat.filemode(st.st_mode)}, owner {_user_name(st.st_uid)}) "
                    f"is not traversable. Use a data dir outside it (GIS_DB__DATA_DIR, e.g. under /srv or "
                    f"/var/lib) or allow traversal with `chmod o+x {directory}`."
                )

    # ------------------------------------------------------------------ initdb

    def _initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    def _initdb(self, bin_dir: Path, user: _OsUser) -> None:
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
        locale = "C.UTF-8" if _has_c_utf8_locale() else "C"
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
                f"initdb failed for {self.pgdata} (exit {result.returncode}): {_output(result)}. "
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

    def _start(self, bin_dir: Path, user: _OsUser) -> None:
        self._remove_stale_files()
        attempts = 3
        for attempt in range(1, attempts + 1):
            port = self._choose_port()
            self._write_server_conf(port, user)
            self._write_state(port, user)
            logger.info("starting PostgreSQL in %s on %s:%s", self.pgdata, _LOCALHOST, port)
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
            if self._running_pid() is None and not _port_is_free(port) and attempt < attempts:
                logger.warning("port %s was taken while starting; choosing another", port)
                self._remove_stale_files()
                continue
            raise ClusterError(
                f"PostgreSQL in {self.pgdata} did not start (pg_ctl exit {result.returncode}): "
                f"{_output(result)}\nLast lines of {self.log_file}:\n{self._log_tail()}"
            )

    def _remove_stale_files(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            info = _read_pid_file(pid_file)
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
            orphans = [pid for pid in _postgres_pids() if _same_path(_process_cwd(pid), self.pgdata)]
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

    def _write_server_conf(self, port: int, user: _OsUser) -> None:
        lines = [
            "# Written by gis_platform.db.cluster on every start; edits are overwritten.",
            f"port = {port}",
            f"listen_addresses = {_conf_quote(_LOCALHOST)}",
            f"unix_socket_directories = {_conf_quote(str(self.socket_dir))}",
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
            if candidate is not None and _port_is_free(candidate):
                return candidate
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_LOCALHOST, 0))
            port = int(sock.getsockname()[1])
        logger.info("port %s is busy; using free port %s", remembered or self.preferred_port, port)
        return port

    def _state_port(self) -> int | None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        port = state.get("port") if isinstance(state, dict) else None
        return port if isinstance(port, int) else None

    def _write_state(self, port: int, user: _OsUser) -> None:
        state = {"port": port, "socket_dir": str(self.socket_dir), "os_user": user.name}
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_file)

    def _current_port(self, running_pid: int | None) -> int | None:
        if running_pid is not None:
            info = _read_pid_file(self.pgdata / "postmaster.pid")
            if info is not None and info.port is not None:
                return info.port
        return self._state_port()

    # ------------------------------------------------------------------ process inspection

    def _running_pid(self) -> int | None:
        """Return the postmaster's PID if this cluster's server is alive, else None."""
        info = _read_pid_file(self.pgdata / "postmaster.pid")
        if info is None or not _process_alive(info.pid) or not _is_postgres(info.pid):
            return None
        cwd = _process_cwd(info.pid)
        if cwd is not None and not _same_path(cwd, self.pgdata):
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
        return f"postgresql://{user}:{password}@{_LOCALHOST}:{port}/{quote(database, safe='')}"

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
        self, cmd: Sequence[str], *, user: _OsUser, timeout: float, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = [*_as_user_prefix(user), *cmd]
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


# ---------------------------------------------------------------------- module helpers


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _has_binaries(bin_dir: Path) -> bool:
    return all(_is_executable(bin_dir / name) for name in _REQUIRED_BINARIES)


def _server_major(bin_dir: Path) -> int:
    try:
        result = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ClusterError(f"Cannot run {bin_dir / 'postgres'} ({exc}); reinstall postgresql-15.") from exc
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    if match is None:
        raise ClusterError(
            f"Cannot tell the PostgreSQL version from `{bin_dir / 'postgres'} --version` "
            f"({result.stdout.strip() or result.stderr.strip()}); check pg_bin_dir."
        )
    return int(match.group(1))


def _has_c_utf8_locale() -> bool:
    try:
        result = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return Path("/usr/lib/locale/C.utf8").exists() or Path("/usr/lib/locale/C.UTF-8").exists()
    names = {line.strip().lower().replace("-", "") for line in result.stdout.splitlines()}
    return "c.utf8" in names


def _as_user_prefix(user: _OsUser) -> list[str]:
    if user.is_current:
        return []
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", user.name, "--"]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    raise ClusterError(
        "Running as root needs `runuser` or `setpriv` to start PostgreSQL as an unprivileged user; "
        "install util-linux (`apt-get install util-linux`) or run as a normal user."
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the postmaster does
        try:
            sock.bind((_LOCALHOST, port))
        except OSError:
            return False
    return True


def _read_pid_file(path: Path) -> _PidFile | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not lines or not lines[0].strip().lstrip("-").isdigit():
        return None
    pid = abs(int(lines[0].strip()))  # single-user backends write a negative PID
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return _PidFile(pid=pid, port=port)


def _process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = raw.rpartition(")")[2].split()[:1]
    return state not in (["Z"], ["X"], ["x"])


def _is_postgres(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return False
    return comm in {"postgres", "postmaster"}


def _process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _postgres_pids() -> list[int]:
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return [
        int(entry.name)
        for entry in proc.iterdir()
        if entry.name.isdigit() and _is_postgres(int(entry.name)) and _process_alive(int(entry.name))
    ]


def _same_path(left: Path | None, right: Path) -> bool:
    if left is None:
        return False
    return os.path.realpath(left) == os.path.realpath(right)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr.strip() or result.stdout.strip() or "(no output)")[-2000:]
