-- One to three lines per order.
SELECT
  o.order_id,
  line AS line_number,
  MOD(o.order_id * 104729 + line * 7, 500) + 1 AS product_id,
  1 + MOD(o.order_id + line, 4) AS quantity
FROM raw.orders AS o
CROSS JOIN UNNEST(GENERATE_ARRAY(1, 1 + MOD(o.order_id, 3))) AS line
