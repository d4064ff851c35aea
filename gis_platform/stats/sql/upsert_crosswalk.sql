-- psycopg statement (named parameters)
INSERT INTO admin.crosswalk AS x
    (from_version, to_version, old_code, new_code, relation, share_old, share_new, method, method_new,
     area_km2, note, updated_by)
VALUES (%(from_version)s, %(to_version)s, %(old_code)s, %(new_code)s, %(relation)s, %(share_old)s,
        %(share_new)s, %(method)s, %(method_new)s, %(area_km2)s, %(note)s, %(updated_by)s)
ON CONFLICT (from_version, to_version, old_code, new_code) DO UPDATE SET
    relation = EXCLUDED.relation, share_old = EXCLUDED.share_old, share_new = EXCLUDED.share_new,
    method = EXCLUDED.method, method_new = EXCLUDED.method_new, area_km2 = EXCLUDED.area_km2,
    note = EXCLUDED.note, updated_by = EXCLUDED.updated_by, updated_at = now()
WHERE (%(force)s OR x.method <> 'editor')
  AND (x.relation, round(x.share_old::numeric, 9), round(x.share_new::numeric, 9), x.method, x.method_new,
       round(x.area_km2::numeric, 6), x.note)
      IS DISTINCT FROM
      (EXCLUDED.relation, round(EXCLUDED.share_old::numeric, 9), round(EXCLUDED.share_new::numeric, 9),
       EXCLUDED.method, EXCLUDED.method_new, round(EXCLUDED.area_km2::numeric, 6), EXCLUDED.note)
