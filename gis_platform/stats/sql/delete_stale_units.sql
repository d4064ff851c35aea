-- psycopg statement (named parameters)
DELETE FROM admin.admin_unit u
WHERE u.boundary_version = ANY(%(versions)s)
  AND NOT EXISTS (SELECT 1 FROM stats_stage_unit s
                  WHERE s.boundary_version = u.boundary_version AND s.level = u.level AND s.code = u.code)
