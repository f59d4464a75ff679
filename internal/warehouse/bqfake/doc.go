// Package bqfake is a local BigQuery: an http.Handler that answers the BigQuery v2 REST API for
// the calls the official Go client (cloud.google.com/go/bigquery) makes to run jobs, and executes
// the queries on the embedded DuckDB warehouse (duckdbwarehouse), which already turns GoogleSQL
// into DuckDB SQL. Tests point the real client at it:
//
//	srv, _ := bqfake.New(ctx, nil)
//	hs := httptest.NewServer(srv)
//	client, _ := bigquery.NewClient(ctx, "my-project",
//		option.WithEndpoint(hs.URL), option.WithoutAuthentication())
//
// It answers jobs.insert (query, dry-run query, load, extract — which read and write Cloud
// Storage objects when Options.Storage is given; a job id that exists gets the
// 409 "duplicate" BigQuery sends), jobs.get, jobs.getQueryResults (long-polling, and failed jobs
// reported as HTTP errors as BigQuery does), jobs.query and tables.get. Anything else gets 501
// notImplemented. See README.md for what it does and does not model.
//
// Tests script behaviour with Server.Script (fail a job with an ErrorProto reason, report given
// statistics, stay RUNNING for some polls) and read back what the server received with
// Server.Requests, Server.Executions and Server.Job.
//
// It links DuckDB through cgo: only tests and test tools may import it.
package bqfake
