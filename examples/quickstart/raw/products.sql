-- 500 products in 8 categories with list prices between 5 and 254.99.
SELECT
  id AS product_id,
  CONCAT('product_', CAST(id AS STRING)) AS product_name,
  CASE MOD(id, 8)
    WHEN 0 THEN 'books' WHEN 1 THEN 'games' WHEN 2 THEN 'garden' WHEN 3 THEN 'kitchen'
    WHEN 4 THEN 'music' WHEN 5 THEN 'outdoor' WHEN 6 THEN 'toys' ELSE 'tools'
  END AS category,
  ROUND(5 + MOD(id * 7919, 25000) / 100.0, 2) AS list_price
FROM UNNEST(GENERATE_ARRAY(1, 500)) AS id
