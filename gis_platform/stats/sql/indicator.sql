SELECT code, kind, aggregation, value_type FROM stats.indicator WHERE code = $1
