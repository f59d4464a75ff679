package service_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
)

// A client that stops sending its body does not hold the request: the server gives up on the
// body at the request's deadline and answers.
func TestASlowBodyTimesOut(t *testing.T) {
	st := openStore(t)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{RequestTimeout: 200 * time.Millisecond}))
	t.Cleanup(srv.Close)
	token := userToken(t, st, "admin@example.com", "admin", "")

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// A safety net for a broken server, not the assertion: the answer comes long before.
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err = fmt.Fprintf(conn, "POST /api/v1/tables HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\": \"fin.", token)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server answered instead of waiting for the rest of the body")
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, string(body))
}

func TestMethodsAndStatusPage(t *testing.T) {
	st := openStore(t)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	t.Cleanup(srv.Close)
	c := client{t: t, base: srv.URL + service.APIPrefix, token: userToken(t, st, "v@example.com", "viewer", "")}
	code, hdr, out := c.do("DELETE", "/graph", nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Equal(t, "GET, HEAD", hdr.Get("Allow"))
	require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
	require.Contains(t, out["detail"], "DELETE is not a method of /api/v1/graph")

	// The web UI at / sends a stranger to sign in, and shows a viewer the tables.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(srv.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/signin?next=%2F", resp.Header.Get("Location"))
	req, err := http.NewRequest("GET", srv.URL+"/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), "0 of 0 tables")
}
