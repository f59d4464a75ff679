-- The product catalogue, read from the shop's database (SQLite or PostgreSQL dialect, not GoogleSQL).
SELECT product_id, product_name, category, list_price FROM products
