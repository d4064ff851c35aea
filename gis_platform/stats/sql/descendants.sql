-- the units below some units (given as parallel arrays of (boundary_version, level, code)), with parents
WITH RECURSIVE tree AS (
    SELECT u.id, u.boundary_version, u.level, u.code, u.area_km2,
           NULL::text AS p_version, NULL::text AS p_level, NULL::text AS p_code
    FROM admin.admin_unit u
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(boundary_version, level, code)
      ON u.boundary_version = k.boundary_version AND u.level = k.level AND u.code = k.code
    UNION ALL
    SELECT c.id, c.boundary_version, c.level, c.code, c.area_km2, t.boundary_version, t.level, t.code
    FROM admin.admin_unit c JOIN tree t ON c.parent_id = t.id
)
SELECT boundary_version, level, code, area_km2, p_version, p_level, p_code FROM tree
