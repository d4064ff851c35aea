"""Process and port inspection for the private cluster (Linux ``/proc``; no psutil needed for these few reads)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class PidFile:
    """The interesting lines of ``postmaster.pid``."""

    pid: int
    port: int | None


def port_is_free(port: int) -> bool:
    """True if ``port`` can be bound on the loopback address (as the postmaster would bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the postmaster does
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the kernel says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def read_pid_file(path: Path) -> PidFile | None:
    """Parse ``postmaster.pid``; None when it is missing or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not lines or not lines[0].strip().lstrip("-").isdigit():
        return None
    pid = abs(int(lines[0].strip()))  # single-user backends write a negative PID
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return PidFile(pid=pid, port=port)


def process_alive(pid: int) -> bool:
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


def is_postgres(pid: int) -> bool:
    """True if ``pid`` is a PostgreSQL server process."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return False
    return comm in {"postgres", "postmaster"}


def process_cwd(pid: int) -> Path | None:
    """The working directory of ``pid`` (a postmaster's is its PGDATA)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def postgres_pids() -> list[int]:
    """Every live PostgreSQL process on the machine."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return [
        int(entry.name)
        for entry in proc.iterdir()
        if entry.name.isdigit() and is_postgres(int(entry.name)) and process_alive(int(entry.name))
    ]


def same_path(left: Path | None, right: Path) -> bool:
    """True if both paths resolve to the same place."""
    if left is None:
        return False
    return os.path.realpath(left) == os.path.realpath(right)
