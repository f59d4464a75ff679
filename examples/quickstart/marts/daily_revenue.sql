-- Revenue per day and country, returns deducted.
SELECT
  order_date,
  country,
  COUNT(*) AS orders,
  ROUND(SUM(IF(status = 'returned', 0, order_value)), 2) AS revenue,
  ROUND(SUM(IF(status = 'returned', order_value, 0)), 2) AS returned_value
FROM staging.orders_enriched
GROUP BY order_date, country
