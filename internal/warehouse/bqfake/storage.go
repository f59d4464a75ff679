package bqfake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cloud.google.com/go/storage"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/iterator"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// scratchDir is the folder of the engine's files folder where jobs stage the objects they move
// between Cloud Storage and the engine. Each job uses a folder of its own and removes it.
const scratchDir = "_bqfake"

// object is one Cloud Storage object a load job reads.
type object struct {
	bucket, name string
	size         int64
}

// splitURI splits gs://bucket/name.
func splitURI(uri string) (bucket, name string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", "", false
	}
	bucket, name, ok = strings.Cut(rest, "/")
	return bucket, name, ok && bucket != "" && name != ""
}

// matchSources lists the objects the load's URIs name; a * matches any characters (slashes
// too), as in BigQuery. A URI that matches nothing fails the job notFound, as BigQuery does.
func (s *Server) matchSources(ctx context.Context, uris []string) ([]object, *bq.ErrorProto) {
	var out []object
	for _, uri := range uris {
		bucket, name, ok := splitURI(uri)
		if !ok {
			return nil, &bq.ErrorProto{Reason: "invalid", Message: "Invalid source URI " + uri}
		}
		if strings.Count(name, "*") > 1 {
			return nil, &bq.ErrorProto{Reason: "invalid", Message: "Only one * wildcard is allowed in source URI " + uri}
		}
		prefix, suffix, wildcard := strings.Cut(name, "*")
		if !wildcard {
			attrs, err := s.storage.Bucket(bucket).Object(name).Attrs(ctx)
			if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
				return nil, &bq.ErrorProto{Reason: "notFound", Message: "Not found: URI " + uri}
			}
			if err != nil {
				return nil, &bq.ErrorProto{Reason: "backendError", Message: "bqfake: error reading " + uri + ": " + err.Error()}
			}
			out = append(out, object{bucket: bucket, name: name, size: attrs.Size})
			continue
		}
		n := 0
		it := s.storage.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if errors.Is(err, storage.ErrBucketNotExist) {
				return nil, &bq.ErrorProto{Reason: "notFound", Message: "Not found: URI " + uri}
			}
			if err != nil {
				return nil, &bq.ErrorProto{Reason: "backendError", Message: "bqfake: error listing " + uri + ": " + err.Error()}
			}
			if strings.HasSuffix(attrs.Name[len(prefix):], suffix) && !strings.HasSuffix(attrs.Name, "/") {
				out = append(out, object{bucket: bucket, name: attrs.Name, size: attrs.Size})
				n++
			}
		}
		if n == 0 {
			return nil, &bq.ErrorProto{Reason: "notFound", Message: "Not found: URI " + uri}
		}
	}
	return out, nil
}

// stage makes an empty scratch folder in the engine's files folder and returns its key.
func (s *Server) stage(kind string) (key, dir string, err error) {
	key = path.Join(scratchDir, kind+"-"+strings.ToLower(rand.Text()))
	dir = filepath.Join(s.engine.FilesDir(), filepath.FromSlash(key))
	return key, dir, os.MkdirAll(dir, 0o755)
}

// download copies an object into file.
func (s *Server) download(ctx context.Context, o object, file string) error {
	r, err := s.storage.Bucket(o.bucket).Object(o.name).NewReader(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadData runs a load job: it copies the source objects into a scratch folder and has the
// engine load them, honouring the job's dispositions.
func (s *Server) loadData(j *job, dest sqlref.TableName) outcome {
	ctx := s.ctx
	l := j.config.Load
	write, create := l.WriteDisposition, l.CreateDisposition
	if write == "" {
		write = "WRITE_APPEND" // the REST API's default for load jobs
	}
	exists, refused := s.checkDestination(dest, write, create, j.ref.Location)
	if refused != nil {
		return *refused
	}
	format, perr := loadFormat(l.SourceFormat)
	if perr != nil {
		return outcome{err: perr}
	}
	schema, perr := loadSchema(l.Schema)
	if perr != nil {
		return outcome{err: perr}
	}
	objects, perr := s.matchSources(ctx, l.SourceUris)
	if perr != nil {
		return outcome{err: perr}
	}
	key, dir, err := s.stage("load")
	if err != nil {
		return fail("internalError", "bqfake: error making a scratch folder: %v", err)
	}
	defer os.RemoveAll(dir)
	var inBytes int64
	for i, o := range objects {
		// The number keeps names apart; the base keeps the extension (.gz) the engine reads.
		file := filepath.Join(dir, fmt.Sprintf("%06d-%s", i, path.Base(o.name)))
		if err := s.download(ctx, o, file); err != nil {
			return fail("backendError", "bqfake: error reading gs://%s/%s: %v", o.bucket, o.name, err)
		}
		inBytes += o.size
	}
	disp := spec.DispositionAppend
	if write == "WRITE_TRUNCATE" {
		disp = spec.DispositionTruncate
	}
	s.markExecuted(j)
	st, err := s.engine.Load(ctx, &warehouse.LoadJob{
		JobID:           j.ref.ProjectId + ":" + j.ref.JobId,
		SourceURIs:      []string{"gs://bqfake/" + key + "/*"},
		Format:          format,
		Destination:     dest,
		Disposition:     disp,
		Schema:          schema,
		SkipLeadingRows: l.SkipLeadingRows,
		Labels:          j.config.Labels,
	})
	if err != nil {
		return engineFailure(err)
	}
	s.noteTableWritten(dest, j, !exists || disp == spec.DispositionTruncate)
	return outcome{stats: &bq.JobStatistics{
		TotalSlotMs: st.SlotMillis,
		Load:        &bq.JobStatistics3{InputFiles: int64(len(objects)), InputFileBytes: inBytes, OutputRows: st.Rows},
	}}
}

// engineFailure turns an engine error into the job's error.
func engineFailure(err error) outcome {
	var je *warehouse.JobError
	if errors.As(err, &je) {
		return outcome{err: &bq.ErrorProto{Reason: je.Reason, Message: je.Message}}
	}
	return fail("backendError", "bqfake: the engine failed: %v", err)
}

func loadFormat(f string) (warehouse.FileFormat, *bq.ErrorProto) {
	switch f {
	case "", "CSV":
		return warehouse.FormatCSV, nil
	case "NEWLINE_DELIMITED_JSON":
		return warehouse.FormatJSON, nil
	case "PARQUET":
		return warehouse.FormatParquet, nil
	}
	return "", &bq.ErrorProto{Reason: "invalid", Message: "bqfake does not load " + f + " files"}
}

// loadSchema turns a load job's schema (legacy type names; REPEATED fields) into the engine's
// GoogleSQL-typed columns.
func loadSchema(ts *bq.TableSchema) ([]warehouse.Column, *bq.ErrorProto) {
	if ts == nil {
		return nil, nil
	}
	var out []warehouse.Column
	for _, f := range ts.Fields {
		t := f.Type
		if t == "RECORD" || t == "STRUCT" {
			return nil, &bq.ErrorProto{Reason: "invalid", Message: "bqfake does not load RECORD field " + f.Name}
		}
		if f.Mode == "REPEATED" {
			t = "ARRAY<" + t + ">"
		}
		out = append(out, warehouse.Column{Name: f.Name, Type: t})
	}
	return out, nil
}

// extractData runs an extract job: the engine writes the table to a scratch file, which is
// uploaded to the first destination URI (a * becomes 000000000000, BigQuery's first file
// number). The table is never split, so further URIs receive no file.
func (s *Server) extractData(j *job, src sqlref.TableName, uris []string) ([]int64, *bq.ErrorProto) {
	ctx := s.ctx
	e := j.config.Extract
	job := &warehouse.ExtractJob{JobID: j.ref.ProjectId + ":" + j.ref.JobId, Source: src, Labels: j.config.Labels}
	contentType := "application/octet-stream"
	switch e.DestinationFormat {
	case "", "CSV":
		job.Format, contentType = warehouse.FormatCSV, "text/csv"
		job.Header = e.PrintHeader == nil || *e.PrintHeader
	case "NEWLINE_DELIMITED_JSON":
		job.Format, contentType = warehouse.FormatJSON, "application/json"
	case "PARQUET":
		job.Format = warehouse.FormatParquet
	default:
		return nil, &bq.ErrorProto{Reason: "invalid", Message: "bqfake does not write " + e.DestinationFormat + " files"}
	}
	switch e.Compression {
	case "", "NONE":
	case "GZIP":
		job.Compression = warehouse.CompressionGzip
	case "SNAPPY", "ZSTD":
		if job.Format != warehouse.FormatParquet {
			return nil, &bq.ErrorProto{Reason: "invalid", Message: e.Compression + " compression is for Parquet files only"}
		}
		// The engine's own Parquet codec stands in.
	default:
		return nil, &bq.ErrorProto{Reason: "invalid", Message: "bqfake does not write " + e.Compression + " compressed files"}
	}
	bucket, name, ok := splitURI(uris[0])
	if !ok {
		return nil, &bq.ErrorProto{Reason: "invalid", Message: "Invalid destination URI " + uris[0]}
	}
	if strings.Count(name, "*") > 1 {
		return nil, &bq.ErrorProto{Reason: "invalid", Message: "Only one * wildcard is allowed in destination URI " + uris[0]}
	}
	name = strings.Replace(name, "*", "000000000000", 1)

	key, dir, err := s.stage("extract")
	if err != nil {
		return nil, &bq.ErrorProto{Reason: "internalError", Message: "bqfake: error making a scratch folder: " + err.Error()}
	}
	defer os.RemoveAll(dir)
	job.DestinationURI = "gs://bqfake/" + key + "/file"
	if _, err := s.engine.Extract(ctx, job); err != nil {
		return nil, engineFailure(err).err
	}
	f, err := os.Open(filepath.Join(dir, "file"))
	if err != nil {
		return nil, &bq.ErrorProto{Reason: "internalError", Message: "bqfake: the engine wrote no file: " + err.Error()}
	}
	defer f.Close()
	// Cancelling the upload's context abandons it, so a failed copy leaves no object.
	upCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.storage.Bucket(bucket).Object(name).NewWriter(upCtx)
	w.ContentType = contentType
	if _, err := io.Copy(w, f); err != nil {
		cancel()
		_ = w.Close()
		return nil, &bq.ErrorProto{Reason: "backendError", Message: "bqfake: error writing " + uris[0] + ": " + err.Error()}
	}
	if err := w.Close(); err != nil {
		if errors.Is(err, storage.ErrBucketNotExist) {
			return nil, &bq.ErrorProto{Reason: "notFound", Message: "Not found: Bucket " + bucket}
		}
		return nil, &bq.ErrorProto{Reason: "backendError", Message: "bqfake: error writing " + uris[0] + ": " + err.Error()}
	}
	counts := make([]int64, len(uris))
	counts[0] = 1
	return counts, nil
}
