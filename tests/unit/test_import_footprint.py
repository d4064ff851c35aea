"""A web worker that never ingests or exports does not load GDAL, Arrow or the pandas stack."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("geopandas", "pandas", "pyogrio", "pyarrow", "pyproj", "folium", "pmtiles")

PROBE = """
import json, sys
from gis_platform.settings import Settings
from gis_platform.web.app import create_app
create_app(Settings(), database_url="postgresql://nobody@127.0.0.1:1/none")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def test_the_app_starts_without_the_ingest_stack() -> None:
    """Importing and building the app leaves the ingest and download libraries unloaded (~60 MB a worker)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY))], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_command_line_loads_them_only_in_the_commands_that_need_them() -> None:
    """``gis-platform serve`` runs the app in the CLI's own process: importing the CLI must stay lean too."""
    probe = PROBE.replace("from gis_platform.web.app", "import gis_platform.cli\nfrom gis_platform.web.app")
    out = subprocess.run(
        [sys.executable, "-c", probe.format(heavy=set(HEAVY))], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_ingest_service_still_loads_them_when_used() -> None:
    """The probe would see the libraries if they were imported: loading a frame needs them."""
    probe = "import sys; from gis_platform.ingest import service, pipeline; print('pyogrio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
