// Package extract imports query results from PostgreSQL, MySQL/MariaDB and SQLite into
// zstd-compressed Parquet files in a blob.Bucket, streaming with constant memory, fully or
// incrementally by a watermark column. README.md has the design and the type mapping.
package extract
