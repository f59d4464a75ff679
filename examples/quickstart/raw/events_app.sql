-- Mobile app events: 80,000 screen views, add-to-carts and purchases.
SELECT
  id AS event_id,
  MOD(id * 6007, 20000) + 1 AS customer_id,
  DATE_ADD(DATE '2025-01-01', INTERVAL MOD(id * 29, 690) DAY) AS event_date,
  CASE WHEN MOD(id, 10) < 6 THEN 'page_view' WHEN MOD(id, 10) < 8 THEN 'add_to_cart' ELSE 'purchase' END AS event_name
FROM UNNEST(GENERATE_ARRAY(1, 80000)) AS id
