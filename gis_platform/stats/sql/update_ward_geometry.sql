-- psycopg statement (named parameters)
UPDATE admin.admin_unit AS u
SET geom = ST_Multi(ST_GeomFromWKB(s.wkb, 4326)), geom_quality = %(quality)s
FROM stats_stage_geom s
WHERE u.boundary_version = %(version)s AND u.level = 'ward' AND u.code = s.code
  AND (u.geom_quality IS DISTINCT FROM %(quality)s
       OR NOT ST_OrderingEquals(coalesce(u.geom, 'GEOMETRYCOLLECTION EMPTY'::geometry),
                                ST_Multi(ST_GeomFromWKB(s.wkb, 4326))))
