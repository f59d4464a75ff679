-- One row per hourly run: the headline numbers, appended so the history stays.
SELECT
  CURRENT_TIMESTAMP() AS snapshot_at,
  (SELECT COUNT(*) FROM marts.customer_ltv) AS customers_with_orders,
  (SELECT ROUND(SUM(revenue), 2) FROM marts.daily_revenue) AS revenue_to_date,
  (SELECT COUNTIF(segment = 'top') FROM marts.customer_ltv) AS top_customers
