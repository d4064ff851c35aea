-- one unit valid on a day; a ward before a district or city sharing its code
SELECT u.boundary_version, u.level, u.code, u.name_vi, u.full_name_vi, u.name_en, u.unit_type, u.parent_code,
       u.valid_from, u.valid_to, u.geom_quality, u.area_km2, p.name_vi AS parent_name
FROM admin.admin_unit u LEFT JOIN admin.admin_unit p ON p.id = u.parent_id
WHERE u.code = $1 AND u.valid_from <= $2::date AND (u.valid_to IS NULL OR $2::date <= u.valid_to)
  AND ($3::text IS NULL OR u.level = $3)
ORDER BY CASE u.level WHEN 'ward' THEN 0 WHEN 'neighbourhood' THEN 1 WHEN 'residential_group' THEN 2
                      WHEN 'district' THEN 3 ELSE 4 END
LIMIT 1
