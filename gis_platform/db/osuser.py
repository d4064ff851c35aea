"""The OS account that owns PGDATA and runs the private cluster's server.

PostgreSQL refuses to run as root. When the current process is root, ``initdb`` and ``pg_ctl`` run as
``os_user`` (``postgres`` by default) through ``runuser`` (``setpriv`` as fallback); an already initialised
cluster keeps running as the owner of its ``pg`` directory. If ``os_user`` does not exist, a system user
named :data:`FALLBACK_OS_USER` is created. When the process is not root, everything runs as the current user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gis_platform.db.pgsoftware import ClusterError, output

logger = logging.getLogger(__name__)

#: System user created when running as root and ``os_user`` does not exist.
FALLBACK_OS_USER = "gisplatform"


@dataclass(frozen=True)
class OsUser:
    """The OS account that owns PGDATA and runs the server."""

    name: str
    uid: int
    gid: int
    is_current: bool


def user_name(uid: int) -> str:
    """The account name of ``uid`` (the number when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def resolve_os_user(pgdata: Path, run_dir: Path, os_user: str) -> OsUser:
    """Who runs the server of ``pgdata``: the current user, PGDATA's owner, or ``os_user`` when root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        if pgdata.exists() and pgdata.stat().st_uid != os.geteuid():
            owner = user_name(pgdata.stat().st_uid)
            raise ClusterError(
                f"{pgdata} belongs to {owner!r}, not to the current user {entry.pw_name!r}. "
                f"Run as {owner!r} (or root), or use another data dir (GIS_DB__DATA_DIR)."
            )
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=True)
    if (pgdata / "PG_VERSION").is_file():
        owner_uid = pgdata.stat().st_uid
        if owner_uid == 0:
            raise ClusterError(
                f"{pgdata} belongs to root, but PostgreSQL refuses to run as root. "
                f"Give it to the server's user: `chown -R {os_user}: {pgdata}`."
            )
        try:
            entry = pwd.getpwuid(owner_uid)
        except KeyError:
            raise ClusterError(
                f"{pgdata} belongs to uid {owner_uid}, which has no user account. "
                f"`chown -R {os_user}: {pgdata} {run_dir}` to hand it to {os_user!r}."
            ) from None
        if entry.pw_name != os_user:
            logger.info("running the existing cluster as its owner %s", entry.pw_name)
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=False)
    if os_user == "root":
        raise ClusterError("os_user must not be root: PostgreSQL refuses to run as root. Use `postgres`.")
    try:
        entry = pwd.getpwnam(os_user)
    except KeyError:
        entry = _create_fallback_user(os_user)
    if entry.pw_uid == 0:
        raise ClusterError(f"os_user {os_user!r} has uid 0; PostgreSQL refuses to run as root.")
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, is_current=False)


def _create_fallback_user(wanted: str) -> pwd.struct_passwd:
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
            f"OS user {wanted!r} does not exist and `useradd {FALLBACK_OS_USER}` failed ({output(result)}); "
            "Create a user for PostgreSQL and set os_user (GIS_DB__OS_USER)."
        )
    return pwd.getpwnam(FALLBACK_OS_USER)


def check_traversable(data_dir: Path, user: OsUser) -> None:
    """Raise unless ``user`` can reach ``data_dir`` through every parent directory."""
    groups = set(os.getgrouplist(user.name, user.gid))
    for directory in [*reversed(data_dir.parents), data_dir]:
        st = directory.stat()
        if st.st_uid == user.uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            raise ClusterError(
                f"The data dir {data_dir} is not reachable by OS user {user.name!r}, which runs "
                "PostgreSQL because PostgreSQL refuses to run as root: "
                f"{directory} (mode {stat.filemode(st.st_mode)}, owner {user_name(st.st_uid)}) "
                f"is not traversable. Use a data dir outside it (GIS_DB__DATA_DIR, e.g. under /srv or "
                f"/var/lib) or allow traversal with `chmod o+x {directory}`."
            )


def as_user_prefix(user: OsUser) -> list[str]:
    """The argv prefix that runs a command as ``user`` (empty for the current user)."""
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
