package service_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/service"
)

// The OpenAPI document lists every route, and every operation it documents is served.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	e := newMatrixEnv(t)
	anon := client{t: t, base: e.srv.URL + service.APIPrefix}
	code, hdr, _ := anon.do("GET", "/openapi.json", nil)
	require.Equal(t, http.StatusOK, code, "the document is public")
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	resp, err := http.Get(e.srv.URL + service.APIPrefix + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Servers    []struct{ URL string }                `json:"servers"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Equal(t, service.APIPrefix, doc.Servers[0].URL)

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routes := map[string]bool{}
	for _, rt := range service.RouteTable() {
		key := rt.Method + " " + rt.Path
		routes[key] = true
		require.True(t, documented[key], "route %s is not in the OpenAPI document", key)
	}
	var extra []string
	for key := range documented {
		if !routes[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	require.Empty(t, extra, "documented operations that are not routes")

	// Every documented operation is served: an admin's call reaches a handler, never the
	// API's "no route" answer nor the mux's 405.
	admin := client{t: t, base: e.srv.URL + service.APIPrefix, token: e.tokens["admin"]}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for key := range documented {
		method, path, _ := strings.Cut(key, " ")
		code, _, out := admin.do(method, param.ReplaceAllString(path, "x"), nil)
		require.NotEqual(t, http.StatusMethodNotAllowed, code, key)
		if detail, _ := out["detail"].(string); strings.HasPrefix(detail, "no route ") {
			t.Errorf("%s is documented but not served: %s", key, detail)
		}
	}
	code, _, out := admin.do("GET", "/nope", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, out["detail"], "no route GET /api/v1/nope")

	// Every schema the operations reference exists.
	raw, err := json.Marshal(doc.Paths)
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`#/components/schemas/([A-Za-z_]+)`).FindAllStringSubmatch(string(raw), -1) {
		require.Contains(t, doc.Components.Schemas, m[1])
	}
	var table, def struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	require.NoError(t, json.Unmarshal(doc.Components.Schemas["TableRecord"], &table))
	require.Contains(t, table.Properties, "sql", "schemas come from the Go types' json tags")
	require.Contains(t, table.Properties, "revision", "embedded definitions are flattened as encoding/json does")
	require.Contains(t, table.Required, "name")
	require.Contains(t, table.Required, "revision")
	require.NotContains(t, table.Required, "description", "omitempty fields are optional")
	require.NoError(t, json.Unmarshal(doc.Components.Schemas["Table"], &def))
	require.Contains(t, def.Properties, "sql")
	require.NotContains(t, def.Properties, "revision")
	require.Empty(t, def.Required, "a definition sent may leave any field out")
}

func TestReadmeListsEveryRoute(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(data), service.RoutesMarkdown()),
		"internal/service/README.md's route table is not service.RoutesMarkdown()'s output; paste it again:\n%s", service.RoutesMarkdown())
}

func TestOpenAPIProblemSchema(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e := newMatrixEnv(t)
	resp, err := http.Get(e.srv.URL + service.APIPrefix + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	p := doc.Components.Schemas["Problem"]
	require.ElementsMatch(t, []string{"type", "title", "status"}, p.Required)
	require.Contains(t, p.Properties, "errors")
	require.Contains(t, doc.Components.Schemas, "FieldError")
}
