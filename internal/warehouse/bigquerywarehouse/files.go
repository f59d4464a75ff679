package bigquerywarehouse

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// DryRun validates job's SQL and estimates the bytes it would process, without running it.
// BigQuery answers a dry run at once: SQL that would fail is refused by jobs.insert itself.
func (w *Warehouse) DryRun(ctx context.Context, job *warehouse.QueryJob) (*warehouse.DryRun, error) {
	if job == nil {
		return nil, &warehouse.JobError{Reason: "invalid", Message: "no query given"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := w.query(job)
	q.DryRun = true
	j, err := q.Run(ctx)
	if err != nil {
		return nil, submitError(ctx, "", err)
	}
	st := j.LastStatus()
	if st == nil || st.Statistics == nil {
		return nil, fmt.Errorf("error reading dry run: BigQuery returned no statistics")
	}
	if err := st.Err(); err != nil {
		return nil, jobError("", err)
	}
	out := &warehouse.DryRun{BytesProcessed: st.Statistics.TotalBytesProcessed}
	if qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics); ok {
		if qs.TotalBytesProcessed > 0 {
			out.BytesProcessed = qs.TotalBytesProcessed
		}
		for _, t := range qs.ReferencedTables {
			out.ReferencedTables = append(out.ReferencedTables, sqlref.TableName{
				Project: strings.ToLower(t.ProjectID), Dataset: strings.ToLower(t.DatasetID), Table: strings.ToLower(t.TableID)})
		}
		sortNames(out.ReferencedTables)
	}
	return out, nil
}

func sortNames(names []sqlref.TableName) {
	slices.SortFunc(names, func(a, b sqlref.TableName) int {
		return cmp.Compare(a.String(), b.String())
	})
}

// Load loads files from Cloud Storage into job.Destination (or attaches to the job with its id)
// and waits. Stats: Rows = rows loaded, BytesProcessed = bytes of the input files; loads bill
// nothing.
func (w *Warehouse) Load(ctx context.Context, job *warehouse.LoadJob) (run.Stats, error) {
	if err := job.Check(); err != nil {
		return run.Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return run.Stats{}, err
	}
	invalid := func(msg string) error {
		return &warehouse.JobError{JobID: job.JobID, Reason: "invalid", Message: msg}
	}
	ref := bigquery.NewGCSReference(job.SourceURIs...)
	switch job.Format {
	case warehouse.FormatCSV, "":
		ref.SourceFormat = bigquery.CSV
		ref.SkipLeadingRows = job.SkipLeadingRows
	case warehouse.FormatJSON:
		ref.SourceFormat = bigquery.JSON
	case warehouse.FormatParquet:
		ref.SourceFormat = bigquery.Parquet
	default:
		return run.Stats{}, invalid(fmt.Sprintf("format %q cannot be loaded (csv, json or parquet)", job.Format))
	}
	if job.Format != warehouse.FormatParquet {
		if len(job.Schema) == 0 {
			ref.AutoDetect = true
		} else {
			schema, err := schemaOf(job.Schema)
			if err != nil {
				return run.Stats{}, invalid(err.Error())
			}
			ref.Schema = schema
		}
	}
	l := w.table(job.Destination).LoaderFrom(ref)
	l.JobID = job.JobID
	l.Location = w.location
	l.CreateDisposition = bigquery.CreateIfNeeded
	l.WriteDisposition = bigquery.WriteTruncate
	if job.Disposition == spec.DispositionAppend {
		l.WriteDisposition = bigquery.WriteAppend
	}
	if job.AllowFieldAddition {
		l.SchemaUpdateOptions = []string{"ALLOW_FIELD_ADDITION"}
	}
	if job.Format == warehouse.FormatParquet {
		// Parquet loads default to NUMERIC only, which would fail decimals with more than 9
		// fractional or 29 integer digits; BigQuery picks NUMERIC first when it fits.
		l.DecimalTargetTypes = []bigquery.DecimalTargetType{bigquery.NumericTargetType, bigquery.BigNumericTargetType}
	}
	tp, rp, err := Partitioning(job.PartitionBy)
	if err != nil {
		return run.Stats{}, invalid(err.Error())
	}
	l.TimePartitioning, l.RangePartitioning = tp, rp
	if len(job.ClusterBy) > 0 {
		l.Clustering = &bigquery.Clustering{Fields: append([]string(nil), job.ClusterBy...)}
	}
	l.Labels = Labels(job.Labels)

	st, err := w.runJob(ctx, job.JobID, l.Run)
	if err != nil {
		return run.Stats{}, err
	}
	return statsOf(st), nil
}

// schemaOf turns columns typed with GoogleSQL names (ARRAY<T> allowed) into a load schema.
func schemaOf(cols []warehouse.Column) (bigquery.Schema, error) {
	var out bigquery.Schema
	for _, c := range cols {
		t := strings.ToUpper(strings.TrimSpace(c.Type))
		repeated := false
		if strings.HasPrefix(t, "ARRAY<") && strings.HasSuffix(t, ">") {
			t, repeated = strings.TrimSuffix(strings.TrimPrefix(t, "ARRAY<"), ">"), true
		}
		ft, ok := fieldTypes[t]
		if !ok {
			return nil, fmt.Errorf("column %q has type %q, which a load schema cannot have", c.Name, c.Type)
		}
		out = append(out, &bigquery.FieldSchema{Name: c.Name, Type: ft, Repeated: repeated})
	}
	return out, nil
}

var fieldTypes = map[string]bigquery.FieldType{
	"INT64": bigquery.IntegerFieldType, "INTEGER": bigquery.IntegerFieldType,
	"FLOAT64": bigquery.FloatFieldType, "FLOAT": bigquery.FloatFieldType,
	"BOOL": bigquery.BooleanFieldType, "BOOLEAN": bigquery.BooleanFieldType,
	"STRING": bigquery.StringFieldType, "BYTES": bigquery.BytesFieldType,
	"DATE": bigquery.DateFieldType, "TIME": bigquery.TimeFieldType,
	"DATETIME": bigquery.DateTimeFieldType, "TIMESTAMP": bigquery.TimestampFieldType,
	"NUMERIC": bigquery.NumericFieldType, "BIGNUMERIC": bigquery.BigNumericFieldType,
	"JSON": bigquery.JSONFieldType, "GEOGRAPHY": bigquery.GeographyFieldType,
	"INTERVAL": bigquery.IntervalFieldType,
}

// Extract writes job.Source to Cloud Storage (or attaches to the job with its id) and waits.
func (w *Warehouse) Extract(ctx context.Context, job *warehouse.ExtractJob) (*warehouse.ExtractResult, error) {
	if job == nil || job.JobID == "" {
		return nil, &warehouse.JobError{Reason: "invalid", Message: "a job needs an id"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	invalid := func(msg string) error {
		return &warehouse.JobError{JobID: job.JobID, Reason: "invalid", Message: msg}
	}
	if job.Source.Dataset == "" || job.Source.Table == "" || job.Source.IsWildcard() {
		return nil, invalid(fmt.Sprintf("source %q is not a table path", job.Source.String()))
	}
	if !strings.HasPrefix(job.DestinationURI, "gs://") {
		return nil, invalid(fmt.Sprintf("destination %q is not a gs:// URI", job.DestinationURI))
	}
	ref := bigquery.NewGCSReference(job.DestinationURI)
	switch job.Format {
	case warehouse.FormatCSV, "":
		ref.DestinationFormat = bigquery.CSV
	case warehouse.FormatJSON:
		ref.DestinationFormat = bigquery.JSON
	default:
		return nil, invalid(fmt.Sprintf("format %q cannot be extracted (csv or json)", job.Format))
	}
	switch job.Compression {
	case warehouse.CompressionNone:
		ref.Compression = bigquery.None
	case warehouse.CompressionGzip:
		ref.Compression = bigquery.Gzip
	default:
		return nil, invalid(fmt.Sprintf("compression %q is not none or gzip", job.Compression))
	}
	e := w.table(job.Source).ExtractorTo(ref)
	e.JobID = job.JobID
	e.Location = w.location
	e.DisableHeader = !job.Header
	e.Labels = Labels(job.Labels)

	st, err := w.runJob(ctx, job.JobID, e.Run)
	if err != nil {
		return nil, err
	}
	out := &warehouse.ExtractResult{Stats: statsOf(st)}
	if st.Statistics != nil {
		if es, ok := st.Statistics.Details.(*bigquery.ExtractStatistics); ok {
			for _, n := range es.DestinationURIFileCounts {
				out.Files += n
			}
		}
	}
	return out, nil
}
