-- One row per order with its customer, value and size; cancelled orders excluded.
WITH lines AS (
  SELECT
    i.order_id,
    i.quantity,
    p.category,
    i.quantity * p.list_price AS line_value
  FROM raw.order_items AS i
  JOIN raw.products AS p USING (product_id)
),
order_totals AS (
  SELECT
    order_id,
    SUM(line_value) AS order_value,
    SUM(quantity) AS units,
    COUNT(DISTINCT category) AS categories
  FROM lines
  GROUP BY order_id
),
valid_orders AS (
  SELECT * FROM raw.orders WHERE status != 'cancelled'
)
SELECT
  o.order_id,
  o.order_date,
  o.channel,
  o.status,
  c.customer_id,
  c.country,
  c.is_business,
  t.order_value,
  t.units,
  t.categories
FROM valid_orders AS o
JOIN order_totals AS t USING (order_id)
JOIN raw.customers AS c USING (customer_id)
