-- a layer derived from a boundary version (managed by the platform, not by a manifest): create or refresh
-- its metadata; returns the published version and its data checksum (NULLs before the first publish)
WITH l AS (
    INSERT INTO catalogue.layer AS l (slug, title_vi, title_en, description_vi, description_en, category, agency,
                                      licence, attribution, keywords, update_frequency, geometry_type, visibility,
                                      synthetic, style, tile_settings, attribute_schema, source, managed_by,
                                      search_text)
    VALUES (%(slug)s, %(title_vi)s, %(title_en)s, %(description_vi)s, %(description_en)s, 'administration',
            %(agency)s, %(licence)s, %(attribution)s, %(keywords)s, 'irregular', 'MultiPolygon', 'public',
            %(synthetic)s, %(style)s, %(tile_settings)s, %(attribute_schema)s, %(source)s, 'api', %(search_text)s)
    ON CONFLICT (slug) DO UPDATE SET
        title_vi = EXCLUDED.title_vi, title_en = EXCLUDED.title_en, description_vi = EXCLUDED.description_vi,
        description_en = EXCLUDED.description_en, attribution = EXCLUDED.attribution, keywords = EXCLUDED.keywords,
        synthetic = EXCLUDED.synthetic, style = EXCLUDED.style, tile_settings = EXCLUDED.tile_settings,
        attribute_schema = EXCLUDED.attribute_schema, source = EXCLUDED.source, search_text = EXCLUDED.search_text,
        updated_at = now()
    RETURNING l.id, l.current_version
)
SELECT l.current_version, v.checksum
FROM l LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
