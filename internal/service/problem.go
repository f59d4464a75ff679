package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is an error answer as RFC 9457 describes (application/problem+json).
type Problem struct {
	// Type names the kind of problem (a URN of Maestro's); Title says it in a few words.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail says what went wrong with this request, for a person to read.
	Detail string `json:"detail,omitempty"`
	// Errors lists, for a request that failed validation, each field and why.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one invalid field of a request: Field is a JSON path into the body ("sql",
// "import.connection"), a query parameter or a header.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	// Line and Column (1-based) place an error in the SQL; absent elsewhere.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

const problemContentType = "application/problem+json"

// problemTypes name the kinds of problem the API answers, by status; a problem type says what
// a client may do about it, so it is stable across messages.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "bad-request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusRequestTimeout:        "timeout",
	http.StatusConflict:              "conflict",
	http.StatusPreconditionFailed:    "precondition-failed",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	http.StatusUnprocessableEntity:   "validation",
	http.StatusPreconditionRequired:  "precondition-required",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

func problemType(status int) string {
	if t, ok := problemTypes[status]; ok {
		return "urn:maestro:problem:" + t
	}
	return "about:blank"
}

// writeProblem answers status with a problem+json body.
func writeProblem(w http.ResponseWriter, status int, detail string, fields ...FieldError) {
	writeProblemValue(w, &Problem{Type: problemType(status), Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields})
}

func writeProblemValue(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", problemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSONError answers with a problem whose detail is msg (the older routes' name for it).
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeProblem(w, code, msg)
}

// decodeBody reads a JSON body of at most limit bytes into v, refusing unknown fields and
// trailing data. It writes the problem (400, 413 or 415) and returns false when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeProblem(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json), not "+ct)
		return false
	}
	// The body is read whole (it is bounded) so that invalid UTF-8 is refused: the decoder
	// would silently turn it into replacement characters, storing what the user never wrote.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil && !utf8.Valid(body) {
		writeProblem(w, http.StatusBadRequest, "the body is not valid UTF-8")
		return false
	}
	var dec *json.Decoder
	if err == nil {
		dec = json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err == nil && dec.More() {
		err = errors.New("the body holds more than one JSON value")
	}
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeProblem(w, http.StatusRequestEntityTooLarge, "the body is larger than this route's limit of "+byteSize(limit))
		return false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		writeProblem(w, http.StatusRequestTimeout, "the body did not arrive in time")
		return false
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		writeProblem(w, http.StatusBadRequest, "the body is not valid: "+err.Error(),
			FieldError{Field: typeErr.Field, Reason: "must be " + typeErr.Type.String() + ", not a JSON " + typeErr.Value})
		return false
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		writeProblem(w, http.StatusBadRequest, "the body is not valid: "+err.Error(),
			FieldError{Field: strings.Trim(field, `"`), Reason: "unknown field"})
		return false
	}
	writeProblem(w, http.StatusBadRequest, "the body is not valid JSON for this route: "+err.Error())
	return false
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
