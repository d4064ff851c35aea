"""OGC API - Features for every published public layer (issue 6)."""
