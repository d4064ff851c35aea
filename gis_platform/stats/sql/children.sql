-- (child, parent) links of the units of some levels
SELECT c.boundary_version, c.level, c.code, p.boundary_version AS p_version, p.level AS p_level, p.code AS p_code
FROM admin.admin_unit c JOIN admin.admin_unit p ON p.id = c.parent_id
WHERE c.level = ANY($1::text[])
