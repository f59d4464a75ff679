-- 150,000 orders over two years.
SELECT
  id AS order_id,
  MOD(id * 7919, 20000) + 1 AS customer_id,
  DATE_ADD(DATE '2025-01-01', INTERVAL MOD(id * 31, 690) DAY) AS order_date,
  CASE
    WHEN MOD(id, 50) = 0 THEN 'cancelled'
    WHEN MOD(id, 23) = 0 THEN 'returned'
    ELSE 'completed'
  END AS status,
  CASE MOD(id, 3) WHEN 0 THEN 'web' WHEN 1 THEN 'app' ELSE 'store' END AS channel
FROM UNNEST(GENERATE_ARRAY(1, 150000)) AS id
