-- the state of everything joined statistics derive from: an import, edit or deletion of observations,
-- indicators, crosswalk shares or boundaries changes it (the joins' cache keys carry a hash of it)
SELECT concat_ws(':',
    (SELECT count(*) FROM stats.observation), (SELECT max(id) FROM stats.observation),
    (SELECT max(updated_at) FROM stats.observation),
    (SELECT count(*) FROM stats.indicator), (SELECT max(updated_at) FROM stats.indicator),
    (SELECT count(*) FROM admin.crosswalk), (SELECT max(updated_at) FROM admin.crosswalk),
    (SELECT max(loaded_at) FROM admin.boundary_version))
