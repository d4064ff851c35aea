-- one boundary version's validity
SELECT id, level, valid_from, valid_to, geometry_quality FROM admin.boundary_version WHERE id = $1
