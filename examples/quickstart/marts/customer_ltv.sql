-- Lifetime value, order cadence and segment for every customer with an order.
WITH per_customer AS (
  SELECT
    customer_id,
    COUNT(*) AS orders,
    SUM(order_value) AS lifetime_value,
    MIN(order_date) AS first_order,
    MAX(order_date) AS last_order
  FROM staging.orders_enriched
  WHERE status = 'completed'
  GROUP BY customer_id
),
gaps AS (
  SELECT
    customer_id,
    DATE_DIFF(order_date, LAG(order_date) OVER (PARTITION BY customer_id ORDER BY order_date), DAY) AS gap_days
  FROM staging.orders_enriched
),
cadence AS (
  SELECT customer_id, AVG(gap_days) AS avg_days_between_orders
  FROM gaps
  WHERE gap_days IS NOT NULL
  GROUP BY customer_id
),
ranked AS (
  SELECT
    p.*,
    c.avg_days_between_orders,
    NTILE(10) OVER (ORDER BY p.lifetime_value DESC) AS decile
  FROM per_customer AS p
  LEFT JOIN cadence AS c USING (customer_id)
)
SELECT
  r.customer_id,
  cu.country,
  r.orders,
  ROUND(r.lifetime_value, 2) AS lifetime_value,
  r.first_order,
  r.last_order,
  ROUND(r.avg_days_between_orders, 1) AS avg_days_between_orders,
  CASE WHEN r.decile = 1 THEN 'top' WHEN r.decile <= 5 THEN 'core' ELSE 'tail' END AS segment
FROM ranked AS r
JOIN raw.customers AS cu USING (customer_id)
