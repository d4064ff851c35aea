"""Fixtures of the statistics tests: a template with the hierarchy derived and the statistics seeded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from gis_platform.stats.imports import StatsDemoReport, load_stats_demo
from tests.conftest import SOURCES, Server


@pytest.fixture(scope="session")
def stats_template(pg_server: Server, template_db: str) -> Iterator[tuple[str, StatsDemoReport]]:
    """A copy of the admin template with ``load_stats_demo`` run once; (name, first-run report)."""
    name = f"gis_stpl_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name, template=template_db)
    with psycopg.connect(url) as conn:
        report = load_stats_demo(conn, SOURCES)
    yield name, report
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def stats_db(pg_server: Server, stats_template: tuple[str, StatsDemoReport]) -> Iterator[str]:
    """A private copy of the stats template for one test module; returns its URL."""
    name = f"gis_st_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name, template=stats_template[0])
    yield url
    pg_server.drop_database(name)
