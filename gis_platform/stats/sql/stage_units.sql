-- psycopg statement
DROP TABLE IF EXISTS pg_temp.stats_stage_unit;
CREATE TEMP TABLE stats_stage_unit (
    boundary_version text, code text, level text, unit_type text, name_vi text, full_name_vi text,
    name_ascii text, name_en text, parent_code text, valid_from date, valid_to date, wkb bytea,
    attributes text
) ON COMMIT DROP
