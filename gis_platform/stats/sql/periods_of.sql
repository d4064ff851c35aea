SELECT DISTINCT period FROM stats.observation WHERE indicator_code = $1
