"""Ward GIS Platform: an open GIS data platform for a city's wards, on PostGIS."""

__version__ = "0.1.0"
