-- psycopg statement (named parameters)
SELECT u.code, u.boundary_version, u.level, u.name_vi, u.full_name_vi, u.parent_code,
       p.name_vi AS parent_name, p.full_name_vi AS parent_full_name
FROM admin.admin_unit u LEFT JOIN admin.admin_unit p ON p.id = u.parent_id
WHERE u.level = %(level)s AND u.valid_from <= %(at)s AND (u.valid_to IS NULL OR %(at)s <= u.valid_to)
ORDER BY u.code
