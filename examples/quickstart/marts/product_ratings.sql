-- Ratings per category: how the catalogue is received, for the merchandising team.
SELECT
  p.category,
  COUNT(*) AS reviews,
  ROUND(AVG(r.rating), 2) AS avg_rating,
  COUNTIF(r.comment IS NULL) AS without_comment
FROM raw.reviews AS r
JOIN raw.products AS p USING (product_id)
GROUP BY p.category
