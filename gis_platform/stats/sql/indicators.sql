SELECT code, name_vi, name_en, description, category, unit, kind, aggregation, value_type, weight_indicator,
       numerator, denominator, scale, levels, source, source_url, licence, synthetic
FROM stats.indicator
ORDER BY sort_order, code
