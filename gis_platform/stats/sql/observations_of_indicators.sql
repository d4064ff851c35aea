-- observations of some indicators, in some periods (all periods when $2 is NULL), on any boundaries
SELECT indicator_code, boundary_version, level, unit_code, period, value, synthetic
FROM stats.observation
WHERE indicator_code = ANY($1::text[]) AND ($2::text[] IS NULL OR period = ANY($2::text[]))
