-- Web analytics events: 120,000 page views, add-to-carts and purchases.
SELECT
  id AS event_id,
  MOD(id * 7919, 20000) + 1 AS customer_id,
  DATE_ADD(DATE '2025-01-01', INTERVAL MOD(id * 17, 690) DAY) AS event_date,
  CASE WHEN MOD(id, 10) < 7 THEN 'page_view' WHEN MOD(id, 10) < 9 THEN 'add_to_cart' ELSE 'purchase' END AS event_name
FROM UNNEST(GENERATE_ARRAY(1, 120000)) AS id
