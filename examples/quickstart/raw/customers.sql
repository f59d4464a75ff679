-- 20,000 customers, generated deterministically so every run and every machine agree.
SELECT
  id AS customer_id,
  CONCAT('customer_', CAST(id AS STRING)) AS customer_name,
  CASE MOD(id, 5)
    WHEN 0 THEN 'FR'
    WHEN 1 THEN 'DE'
    WHEN 2 THEN 'US'
    WHEN 3 THEN 'GB'
    ELSE 'ES'
  END AS country,
  DATE_ADD(DATE '2024-01-01', INTERVAL MOD(id * 37, 700) DAY) AS signup_date,
  MOD(id * 13, 100) < 20 AS is_business
FROM UNNEST(GENERATE_ARRAY(1, 20000)) AS id
