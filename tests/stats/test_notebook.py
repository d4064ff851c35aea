"""The ward-profile notebook runs end to end against a loaded database."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gis_platform.settings import REPO_ROOT

pytestmark = pytest.mark.db

NOTEBOOK = REPO_ROOT / "notebooks" / "ward_profile.ipynb"


def test_ward_profile_notebook_executes(
    stats_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", stats_db)  # the kernel inherits the environment
    nb = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) for o in outputs)
    assert "Phường Đa Kao (26737)" in text
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert any("folium" in o["data"]["text/html"] or "leaflet" in o["data"]["text/html"] for o in html)
