"""ASGI entry point for uvicorn workers: ``uvicorn gis_platform.web.main:app``."""

from gis_platform.web.app import create_app

app = create_app()
