"""Logging set-up, done once by the app factory and the CLI."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_CONFIGURED = {"done": False}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for production log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        body: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def configure_logging(*, json_logs: bool = False, level: int = logging.INFO) -> None:
    """Configure the ``gis_platform`` logger tree (idempotent)."""
    if _CONFIGURED["done"]:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("gis_platform")
    root.addHandler(handler)
    root.setLevel(level)
    _CONFIGURED["done"] = True
