"""KPI reports over days, months and quarters: daily rollups stored in SQL at each estate's local
midnight (reports/rollup.py), computed from the raw records by pure functions (reports/daily.py),
summed over periods and up the region tree (reports/summary.py)."""
