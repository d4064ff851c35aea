-- psycopg statement (named parameters)
SELECT valid_from FROM admin.admin_unit WHERE level = %(level)s
GROUP BY valid_from, valid_to
ORDER BY CASE WHEN valid_from <= %(at)s AND (valid_to IS NULL OR %(at)s <= valid_to) THEN 0 ELSE 1 END,
         abs(valid_from - %(at)s::date)
LIMIT 1
