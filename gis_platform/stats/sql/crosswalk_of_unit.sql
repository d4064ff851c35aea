-- the pairs a ward takes part in, on either side
SELECT from_version, to_version, old_code, new_code, relation, share_old, share_new, method, method_new
FROM admin.crosswalk
WHERE (from_version = $1 AND old_code = $2) OR (to_version = $1 AND new_code = $2)
ORDER BY old_code, new_code
