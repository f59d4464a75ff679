-- Daily activity per customer and platform, read from every raw.events_* table at once.
SELECT
  _TABLE_SUFFIX AS platform,
  customer_id,
  event_date,
  COUNT(*) AS events,
  COUNTIF(event_name = 'add_to_cart') AS add_to_carts,
  COUNTIF(event_name = 'purchase') AS purchases
FROM `quickstart.raw.events_*`
GROUP BY platform, customer_id, event_date
