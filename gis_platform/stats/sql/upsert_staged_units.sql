-- psycopg statement (named parameters)
INSERT INTO admin.admin_unit AS u
    (boundary_version, code, level, unit_type, name_vi, full_name_vi, name_ascii, name_en, parent_code,
     parent_id, valid_from, valid_to, geom, geom_quality, attributes)
SELECT s.boundary_version, s.code, s.level, s.unit_type, s.name_vi, s.full_name_vi, s.name_ascii, s.name_en,
       s.parent_code, p.id, s.valid_from, s.valid_to, ST_Multi(ST_GeomFromWKB(s.wkb, 4326)), 'synthetic',
       s.attributes::jsonb
FROM stats_stage_unit s
LEFT JOIN admin.admin_unit p
  ON p.code = s.parent_code AND p.level = %(parent_level)s
 AND p.valid_from <= s.valid_from AND (p.valid_to IS NULL OR s.valid_from <= p.valid_to)
WHERE s.level = %(level)s
ON CONFLICT (boundary_version, level, code) DO UPDATE SET
    unit_type = EXCLUDED.unit_type, name_vi = EXCLUDED.name_vi, full_name_vi = EXCLUDED.full_name_vi,
    name_ascii = EXCLUDED.name_ascii, name_en = EXCLUDED.name_en, parent_code = EXCLUDED.parent_code,
    parent_id = EXCLUDED.parent_id, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
    geom = EXCLUDED.geom, geom_quality = EXCLUDED.geom_quality, attributes = EXCLUDED.attributes
WHERE (u.unit_type, u.name_vi, u.full_name_vi, u.name_ascii, u.name_en, u.parent_code, u.parent_id,
       u.valid_from, u.valid_to, u.geom_quality, u.attributes)
   IS DISTINCT FROM
      (EXCLUDED.unit_type, EXCLUDED.name_vi, EXCLUDED.full_name_vi, EXCLUDED.name_ascii, EXCLUDED.name_en,
       EXCLUDED.parent_code, EXCLUDED.parent_id, EXCLUDED.valid_from, EXCLUDED.valid_to,
       EXCLUDED.geom_quality, EXCLUDED.attributes)
   OR NOT ST_OrderingEquals(u.geom, EXCLUDED.geom)
RETURNING (xmax = 0) AS inserted
