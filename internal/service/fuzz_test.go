package service_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maestro-sql/maestro/internal/service"
)

// FuzzRequestBodies sends the same arbitrary bytes as the body of every POST and PUT route, as
// an admin (so that the body, not the role, decides), to the in-process API over a store with
// fixtures. Whatever the bytes: no panic, no 5xx, and every 4xx is a problem+json document.
func FuzzRequestBodies(f *testing.F) {
	for _, c := range matrixCases {
		if c.body == nil {
			continue
		}
		if s, ok := c.body.(string); ok {
			f.Add([]byte(s))
			continue
		}
		b, err := json.Marshal(c.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name":"fin.x","sql":"SELECT 1","exports":[{"callback":{"url":"http://169.254.169.254/"}}]}`))
	f.Add([]byte(strings.Repeat("[", 10000)))
	f.Add([]byte("{\"name\":\"fin.\xff\",\"sql\":\"SELECT 1\"}"))
	f.Add([]byte(`{"name":"../../etc/passwd","sql":"SELECT 1; DROP TABLE tables; --"}`))
	f.Add([]byte(`{"tables":["fin.base"],"downstream":true}{}`))
	f.Add([]byte{})

	e := newMatrixEnv(f)
	handler := e.srv.Config.Handler
	token := e.tokens["admin"]
	var routes []service.Route
	for _, rt := range service.RouteTable() {
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
			routes = append(routes, rt)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rt := range routes {
			c := matrixCases[rt.Method+" "+rt.Path]
			path := c.path
			if path == "" {
				path = rt.Path
			}
			req := httptest.NewRequest(rt.Method, service.APIPrefix+path, strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer "+token)
			if rt.RawBody != "" {
				req.Header.Set("Content-Type", rt.RawBody)
			} else {
				req.Header.Set("Content-Type", "application/json")
			}
			if rt.IfMatch {
				req.Header.Set("If-Match", `"1"`)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			code := rec.Code
			if code >= 500 {
				t.Fatalf("%s %s with body %q: %d %s", rt.Method, path, body, code, rec.Body.String())
			}
			if code >= 400 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("%s %s with body %q: %d with Content-Type %q, not a problem: %s", rt.Method, path, body, code, ct, rec.Body.String())
				}
				var p service.Problem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != code || p.Detail == "" && len(p.Errors) == 0 {
					t.Fatalf("%s %s with body %q: %d with a bad problem document (%v): %s", rt.Method, path, body, code, err, rec.Body.String())
				}
			}
		}
	})
}
