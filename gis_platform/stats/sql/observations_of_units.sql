-- every observation of some units, given as parallel arrays of (boundary_version, level, code)
SELECT o.indicator_code, o.boundary_version, o.level, o.unit_code, o.period, o.value, o.synthetic
FROM stats.observation o
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(boundary_version, level, code)
  ON o.boundary_version = k.boundary_version AND o.level = k.level AND o.unit_code = k.code
