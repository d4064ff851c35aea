-- psycopg statement (named parameters)
INSERT INTO stats.indicator AS i
    (code, name_vi, name_en, description, category, unit, kind, aggregation, value_type, weight_indicator,
     numerator, denominator, scale, levels, definition, source, source_url, licence, synthetic, sort_order)
VALUES (%(code)s, %(name_vi)s, %(name_en)s, %(description)s, %(category)s, %(unit)s, %(kind)s,
        %(aggregation)s, %(value_type)s, %(weight_indicator)s, %(numerator)s, %(denominator)s, %(scale)s,
        %(levels)s, %(definition)s::jsonb, %(source)s, %(source_url)s, %(licence)s, %(synthetic)s, %(sort_order)s)
ON CONFLICT (code) DO UPDATE SET
    name_vi = EXCLUDED.name_vi, name_en = EXCLUDED.name_en, description = EXCLUDED.description,
    category = EXCLUDED.category, unit = EXCLUDED.unit, kind = EXCLUDED.kind,
    aggregation = EXCLUDED.aggregation, value_type = EXCLUDED.value_type,
    weight_indicator = EXCLUDED.weight_indicator, numerator = EXCLUDED.numerator,
    denominator = EXCLUDED.denominator, scale = EXCLUDED.scale, levels = EXCLUDED.levels,
    definition = EXCLUDED.definition, source = EXCLUDED.source, source_url = EXCLUDED.source_url,
    licence = EXCLUDED.licence, synthetic = EXCLUDED.synthetic, sort_order = EXCLUDED.sort_order,
    updated_at = now()
WHERE (i.name_vi, i.name_en, i.description, i.category, i.unit, i.kind, i.aggregation, i.value_type,
       i.weight_indicator, i.numerator, i.denominator, i.scale, i.levels, i.definition, i.source,
       i.source_url, i.licence, i.synthetic, i.sort_order)
   IS DISTINCT FROM
      (EXCLUDED.name_vi, EXCLUDED.name_en, EXCLUDED.description, EXCLUDED.category, EXCLUDED.unit,
       EXCLUDED.kind, EXCLUDED.aggregation, EXCLUDED.value_type, EXCLUDED.weight_indicator,
       EXCLUDED.numerator, EXCLUDED.denominator, EXCLUDED.scale, EXCLUDED.levels, EXCLUDED.definition,
       EXCLUDED.source, EXCLUDED.source_url, EXCLUDED.licence, EXCLUDED.synthetic, EXCLUDED.sort_order)
