-- How activity turns into orders, per platform and month.
WITH activity AS (
  SELECT
    platform,
    DATE_TRUNC(event_date, MONTH) AS month,
    SUM(events) AS events,
    SUM(add_to_carts) AS add_to_carts,
    SUM(purchases) AS purchase_events
  FROM staging.sessions
  GROUP BY platform, month
),
orders AS (
  SELECT channel AS platform, DATE_TRUNC(order_date, MONTH) AS month, COUNT(*) AS orders
  FROM staging.orders_enriched
  GROUP BY platform, month
)
SELECT
  a.platform,
  a.month,
  a.events,
  a.add_to_carts,
  COALESCE(o.orders, 0) AS orders,
  ROUND(SAFE_DIVIDE(COALESCE(o.orders, 0), a.add_to_carts), 4) AS cart_to_order_rate
FROM activity AS a
LEFT JOIN orders AS o USING (platform, month)
