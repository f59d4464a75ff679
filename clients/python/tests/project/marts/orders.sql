SELECT 1 AS id, 'ann' AS customer, 10 AS amount
UNION ALL SELECT 2, 'bob', 7
UNION ALL SELECT 3, 'ann', 5
