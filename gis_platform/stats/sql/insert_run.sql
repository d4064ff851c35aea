INSERT INTO stats.import_run (kind, indicator_code, period, source, author, rows_total, rows_written, report)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
RETURNING id
