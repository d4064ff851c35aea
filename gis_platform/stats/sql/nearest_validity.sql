-- a day on which units of a level are valid: the day itself, else the nearest version's first day (asyncpg)
SELECT valid_from FROM admin.admin_unit WHERE level = $1
GROUP BY valid_from, valid_to
ORDER BY CASE WHEN valid_from <= $2::date AND (valid_to IS NULL OR $2::date <= valid_to) THEN 0 ELSE 1 END,
         abs(valid_from - $2::date)
LIMIT 1
