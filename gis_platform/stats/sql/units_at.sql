-- units of one level valid on a day
SELECT boundary_version, level, code, name_vi, full_name_vi, parent_code, area_km2
FROM admin.admin_unit
WHERE level = $1 AND valid_from <= $2::date AND (valid_to IS NULL OR $2::date <= valid_to)
ORDER BY code
