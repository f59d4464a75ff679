package service_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/spec"
)

func TestTableCheck(t *testing.T) {
	fin, _, _ := newTablesEnv(t)
	for _, tb := range []spec.Table{
		{Name: "fin.a", SQL: "SELECT 1 AS x"},
		{Name: "fin.b", SQL: "SELECT 2 AS x"},
		{Name: "fin.c", SQL: "SELECT x FROM fin.a"},
	} {
		code, _, out := fin.do("POST", "/tables", tb)
		require.Equal(t, http.StatusCreated, code, out)
	}

	t.Run("NamesTheTablesADraftReadsBeforeItIsSaved", func(t *testing.T) {
		code, _, out := fin.do("POST", "/check?create=true", spec.Table{Name: "fin.d", SQL: "SELECT * FROM fin.a JOIN fin.b USING (x) JOIN raw.events USING (x)"})
		require.Equal(t, http.StatusOK, code, out)
		require.Equal(t, true, out["valid"], out)
		require.Equal(t, []any{"fin.a", "fin.b"}, out["upstream"])
		require.Equal(t, []any{"raw.events"}, out["external_sources"])
		_, _, got := fin.do("GET", "/tables/fin.d", nil)
		require.Equal(t, "urn:maestro:problem:not-found", got["type"], "checking saves nothing")
	})

	t.Run("PlacesAParseErrorByLineAndColumn", func(t *testing.T) {
		code, _, out := fin.do("POST", "/check", spec.Table{Name: "fin.d", SQL: "SELECT x\nFROM fin.a\nWHERE x = 'open"})
		require.Equal(t, http.StatusOK, code, out)
		require.Equal(t, false, out["valid"])
		e := out["errors"].([]any)[0].(map[string]any)
		require.Equal(t, "sql", e["field"])
		require.Equal(t, float64(3), e["line"])
		require.Equal(t, float64(11), e["column"])
	})

	t.Run("ShowsDownstreamOfAnExistingTableAndTheCycleAChangeWouldMake", func(t *testing.T) {
		code, _, out := fin.do("POST", "/check", spec.Table{Name: "fin.a", SQL: "SELECT x FROM fin.c"})
		require.Equal(t, http.StatusOK, code, out)
		require.Equal(t, false, out["valid"])
		require.Contains(t, out["errors"].([]any)[0].(map[string]any)["reason"], "cycle")
		code, _, out = fin.do("POST", "/check", spec.Table{Name: "fin.a", SQL: "SELECT 3 AS x"})
		require.Equal(t, http.StatusOK, code, out)
		require.Equal(t, []any{"fin.c"}, out["downstream"])
	})

	t.Run("RefusesANewTableOfAnExistingName", func(t *testing.T) {
		_, _, out := fin.do("POST", "/check?create=true", spec.Table{Name: "fin.a", SQL: "SELECT 1"})
		require.Equal(t, false, out["valid"])
		require.Equal(t, map[string]any{"field": "name", "reason": "table fin.a exists"}, out["errors"].([]any)[0])
	})
}

func TestTableSaveKeepsItsMessage(t *testing.T) {
	fin, _, _ := newTablesEnv(t)
	code, _, out := fin.do("POST", "/tables?message="+url.QueryEscape("first cut of A"), spec.Table{Name: "fin.a", SQL: "SELECT 1 AS x"})
	require.Equal(t, http.StatusCreated, code, out)
	code, _, out = fin.do("PUT", "/tables/fin.a?message="+url.QueryEscape("A counts twice"), spec.Table{SQL: "SELECT 2 AS x", Group: "finance"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, code, out)
	code, _, out = fin.do("GET", "/tables/fin.a/history", nil)
	require.Equal(t, http.StatusOK, code, out)
	revs := out["revisions"].([]any)
	require.Equal(t, "first cut of A", revs[0].(map[string]any)["message"])
	require.Equal(t, "A counts twice", revs[1].(map[string]any)["message"])

	long := make([]byte, 2001)
	for i := range long {
		long[i] = 'a'
	}
	code, _, out = fin.do("PUT", "/tables/fin.a?message="+string(long), spec.Table{SQL: "SELECT 3 AS x", Group: "finance"}, "If-Match", `"2"`)
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Equal(t, "message", out["errors"].([]any)[0].(map[string]any)["field"])
}
