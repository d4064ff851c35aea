-- psycopg statement (named parameters)
INSERT INTO stats.import_run AS r (key, kind, indicator_code, period, source, author, rows_total,
                                   rows_written, report)
VALUES (%(key)s, %(kind)s, %(indicator_code)s, %(period)s, %(source)s, %(author)s, %(rows_total)s,
        %(rows_written)s, %(report)s)
ON CONFLICT (key) DO UPDATE SET
    rows_total = EXCLUDED.rows_total, rows_written = EXCLUDED.rows_written, report = EXCLUDED.report,
    source = EXCLUDED.source
WHERE (r.rows_total, r.rows_written, r.report, r.source)
      IS DISTINCT FROM (EXCLUDED.rows_total, EXCLUDED.rows_written, EXCLUDED.report, EXCLUDED.source)
RETURNING id
