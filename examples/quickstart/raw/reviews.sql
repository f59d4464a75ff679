-- Product reviews, read from the shop's database. Incremental: each run reads only the reviews with
-- a review_id above the greatest one already imported.
SELECT review_id, product_id, rating, comment FROM reviews
