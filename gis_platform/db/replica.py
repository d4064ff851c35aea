"""A streaming replica of a PostgreSQL server, as a private cluster (for tests, demos, small deployments).

``pg_basebackup -R`` copies the primary and writes the standby settings; from then on the replica is a
:class:`LocalCluster` like any other, read-only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gis_platform.db.cluster import ClusterError, LocalCluster, OsUser

logger = logging.getLogger(__name__)


class ReplicaCluster(LocalCluster):
    """A hot-standby copy of ``primary_url``'s server in ``data_dir``."""

    def __init__(
        self, data_dir: Path, primary_url: str, *, preferred_port: int = 54379, os_user: str = "postgres"
    ):
        parts = urlsplit(primary_url)
        if not parts.hostname or not parts.username:
            raise ClusterError(f"The primary URL needs a host and a user: {parts.scheme}://…")
        super().__init__(
            data_dir,
            preferred_port=preferred_port,
            os_user=os_user,
            database=(parts.path or "/postgres").lstrip("/") or "postgres",
            superuser=unquote(parts.username),
        )
        self.primary_host = parts.hostname
        self.primary_port = parts.port or 5432
        self.primary_password = unquote(parts.password or "")

    def _initdb(self, bin_dir: Path, user: OsUser) -> None:
        """Instead of initdb: a base backup of the primary with standby settings (-R)."""
        if any(self.pgdata.iterdir()):
            raise ClusterError(f"{self.pgdata} is not empty; move it away to create a replica there.")
        self.password_file.write_text(self.primary_password, encoding="utf-8")
        self.password_file.chmod(0o600)
        # the standby reads the primary's password from a passfile it owns (never from argv)
        passfile = self.data_dir / "primary.pgpass"
        passfile.write_text(
            f"{self.primary_host}:{self.primary_port}:*:{self.superuser}:{self.primary_password}\n",
            encoding="utf-8",
        )
        passfile.chmod(0o600)
        if not user.is_current:
            os.chown(passfile, user.uid, user.gid)
        conninfo = (
            f"host={self.primary_host} port={self.primary_port} user={self.superuser} passfile={passfile} "
            "application_name=gis_platform_replica"
        )
        cmd = [str(bin_dir / "pg_basebackup"), "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast",
               "-d", conninfo]  # fmt: skip
        logger.info("base backup of %s:%s into %s", self.primary_host, self.primary_port, self.pgdata)
        result = self._run(cmd, user=user, timeout=1800)
        if result.returncode != 0:
            raise ClusterError(
                f"pg_basebackup from {self.primary_host}:{self.primary_port} failed: {result.stderr.strip()}"
            )

    def _ensure_database(self, name: str, template: str | None) -> None:
        """A standby is read-only: its databases come from the primary."""
