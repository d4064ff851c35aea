-- psycopg statement (named parameters)
INSERT INTO admin.boundary_version AS b
    (id, title, level, valid_from, valid_to, geometry_quality, source, source_url, licence, attribution, checksum)
VALUES (%(id)s, %(title)s, %(level)s, %(valid_from)s, %(valid_to)s, %(geometry_quality)s, %(source)s,
        %(source_url)s, %(licence)s, %(attribution)s, %(checksum)s)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title, level = EXCLUDED.level, valid_from = EXCLUDED.valid_from,
    valid_to = EXCLUDED.valid_to, geometry_quality = EXCLUDED.geometry_quality, source = EXCLUDED.source,
    source_url = EXCLUDED.source_url, licence = EXCLUDED.licence, attribution = EXCLUDED.attribution,
    checksum = EXCLUDED.checksum, loaded_at = now()
WHERE (b.title, b.level, b.valid_from, b.valid_to, b.geometry_quality, b.source, b.source_url, b.licence,
       b.attribution, b.checksum)
   IS DISTINCT FROM
      (EXCLUDED.title, EXCLUDED.level, EXCLUDED.valid_from, EXCLUDED.valid_to, EXCLUDED.geometry_quality,
       EXCLUDED.source, EXCLUDED.source_url, EXCLUDED.licence, EXCLUDED.attribution, EXCLUDED.checksum)
