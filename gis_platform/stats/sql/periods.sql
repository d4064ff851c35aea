SELECT DISTINCT indicator_code, period FROM stats.observation
