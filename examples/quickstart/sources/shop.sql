-- The shop's operational database, which raw.products and raw.reviews import from. maestro dev runs
-- this script at every start: in a SQLite file in its state folder, or, with --source, in the
-- PostgreSQL database given. It is written to run unchanged on both, and more than once.
CREATE TABLE IF NOT EXISTS products (
  product_id   INTEGER PRIMARY KEY,
  product_name TEXT NOT NULL,
  category     TEXT NOT NULL,
  list_price   DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS reviews (
  review_id  INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL,
  rating     INTEGER NOT NULL,
  comment    TEXT
);

-- 500 products in 8 categories with list prices between 5 and 254.99.
WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 500)
INSERT INTO products (product_id, product_name, category, list_price)
SELECT
  id,
  'product_' || id,
  CASE id % 8
    WHEN 0 THEN 'books' WHEN 1 THEN 'games' WHEN 2 THEN 'garden' WHEN 3 THEN 'kitchen'
    WHEN 4 THEN 'music' WHEN 5 THEN 'outdoor' WHEN 6 THEN 'toys' ELSE 'tools'
  END,
  CAST(500 + (id * 7919) % 25000 AS DOUBLE PRECISION) / 100
FROM n
WHERE true -- SQLite needs a WHERE before ON CONFLICT in an INSERT ... SELECT
ON CONFLICT (product_id) DO NOTHING;

-- 3,000 reviews; one in seven has no comment.
WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 3000)
INSERT INTO reviews (review_id, product_id, rating, comment)
SELECT
  id,
  (id * 37) % 500 + 1,
  (id * 13) % 5 + 1,
  CASE WHEN id % 7 = 0 THEN NULL ELSE 'review ' || id END
FROM n
WHERE true
ON CONFLICT (review_id) DO NOTHING;
