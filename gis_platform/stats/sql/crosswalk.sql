SELECT from_version, to_version, old_code, new_code, relation, share_old, share_new, method, method_new
FROM admin.crosswalk
ORDER BY from_version, to_version, old_code, new_code
