SELECT customer, COUNT(*) AS orders, SUM(amount) AS total
FROM marts.orders
GROUP BY customer
