-- staged observations into stats.observation (psycopg and asyncpg: no parameters); rows that did not
-- change are not rewritten, and a synthetic value never replaces a real (imported) one
INSERT INTO stats.observation AS o
    (indicator_code, boundary_version, level, unit_code, period, period_start, period_end, value, source,
     synthetic, import_run_id)
SELECT indicator_code, boundary_version, level, unit_code, period, period_start, period_end, value, source,
       synthetic, import_run_id
FROM stats_stage_obs
ON CONFLICT (indicator_code, boundary_version, level, unit_code, period) DO UPDATE SET
    value = EXCLUDED.value, source = EXCLUDED.source, synthetic = EXCLUDED.synthetic,
    period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
    import_run_id = coalesce(EXCLUDED.import_run_id, o.import_run_id), updated_at = now()
WHERE (o.value, o.source, o.synthetic) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.source, EXCLUDED.synthetic)
  AND (o.synthetic OR NOT EXCLUDED.synthetic)
RETURNING (xmax = 0) AS inserted
