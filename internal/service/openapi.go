package service

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/spec"
)

// openAPI builds the OpenAPI 3.1 document of a route table. Schemas come from the Go types of
// the bodies (their json tags), so the document cannot drift from what the handlers decode
// and encode.
type openAPI struct {
	schemas map[string]any
	// owners maps a schema name to its type, so that two types of one name do not merge.
	owners map[string]reflect.Type
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// openAPIDocument renders the document (JSON) of routes.
func openAPIDocument(routes []Route) []byte {
	o := &openAPI{schemas: map[string]any{}, owners: map[string]reflect.Type{}}
	o.schema(reflect.TypeFor[Problem]()) // registered under components/schemas/Problem
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		path := pathParamRE.ReplaceAllString(rt.Path, "{$1}")
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.Method)] = o.operation(rt)
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Maestro API",
			"version": "1",
			"description": "Maestro's JSON API. Authenticate with an API token (Authorization: Bearer mae_...) or, " +
				"behind Identity-Aware Proxy, with IAP's signed assertion. Roles: viewer < editor < admin; an editor " +
				"changes only the tables of their group. Errors are RFC 9457 problem details. Updates and deletes of " +
				"tables need If-Match with the table's ETag.",
		},
		"servers": []any{map[string]any{"url": APIPrefix}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": o.schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "an API token (POST /tokens)"},
				"iap":    map[string]any{"type": "apiKey", "in": "header", "name": "x-goog-iap-jwt-assertion", "description": "Identity-Aware Proxy's signed JWT"},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		// Every value above is a map, slice or string built here: a failure is a bug.
		panic("openapi: " + err.Error())
	}
	return b
}

func (o *openAPI) operation(rt Route) map[string]any {
	op := map[string]any{
		"summary":     rt.Summary,
		"operationId": operationID(rt),
		"tags":        []string{rt.Tag},
		"x-maestro-role": func() string {
			if rt.Role == access.None {
				return "public"
			}
			return rt.Role.String()
		}(),
	}
	if rt.TableWrite {
		op["x-maestro-table-write"] = true
	}
	var params []any
	for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": q.Type}})
	}
	if rt.IfMatch {
		params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": true,
			"description": "the ETag of the resource as last read; 428 without it, 412 when it changed since",
			"schema":      map[string]any{"type": "string"}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": o.schema(reflect.TypeOf(rt.Request))}}}
	} else if rt.RawBody != "" {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			rt.RawBody:             map[string]any{"schema": map[string]any{"type": "string"}},
			"application/x-ndjson": map[string]any{"schema": map[string]any{"type": "string"}}}}
	}
	ok := map[string]any{"description": http200(rt.Status)}
	if rt.Response != nil {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": o.schema(reflect.TypeOf(rt.Response))}}
	}
	if rt.ETag {
		ok["headers"] = map[string]any{"ETag": map[string]any{"description": "the revision, for If-Match", "schema": map[string]any{"type": "string"}}}
	}
	problem := map[string]any{"content": map[string]any{problemContentType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	withDesc := func(d string) map[string]any {
		out := map[string]any{"description": d}
		for k, v := range problem {
			out[k] = v
		}
		return out
	}
	responses := map[string]any{strconv.Itoa(rt.Status): ok, "default": withDesc("an error (RFC 9457 problem details)")}
	if rt.Role != access.None {
		responses["401"] = withDesc("no credentials, or credentials that are not valid")
		responses["403"] = withDesc("the caller's role (or group) does not allow this")
		op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"iap": []string{}}}
	} else {
		op["security"] = []any{}
	}
	if rt.IfMatch {
		responses["412"] = withDesc("the resource changed since it was read")
		responses["428"] = withDesc("If-Match is missing")
	}
	if rt.Request != nil {
		responses["422"] = withDesc("the body is not valid; errors lists each field and why")
	}
	op["responses"] = responses
	return op
}

func http200(status int) string {
	switch status {
	case 201:
		return "created"
	case 204:
		return "done, no content"
	}
	return "OK"
}

// operationID is e.g. "get_tables_name" for GET /tables/{name}.
func operationID(rt Route) string {
	id := strings.ToLower(rt.Method)
	for _, part := range strings.Split(rt.Path, "/") {
		part = strings.Trim(strings.TrimSuffix(part, "..."), "{}")
		part = strings.NewReplacer(".", "_", "-", "_").Replace(strings.TrimSuffix(part, "..."))
		if part != "" {
			id += "_" + part
		}
	}
	return id
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// schema is the JSON Schema of t: named structs become components (by reference), the rest
// inline.
func (o *openAPI) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "a duration in nanoseconds"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": o.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": o.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := schemaName(t)
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if owner, ok := o.owners[name]; ok {
			if owner == t {
				return ref
			}
			name = strings.ReplaceAll(t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:], ".", "_") + "_" + name
			ref["$ref"] = "#/components/schemas/" + name
			if o.owners[name] == t {
				return ref
			}
		}
		o.owners[name] = t
		o.schemas[name] = map[string]any{} // a placeholder ends recursion through the type
		props, required := map[string]any{}, []string{}
		o.fields(t, props, &required)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		// Definitions (package spec) are what clients send: a field left out takes its zero
		// value, so none is required. Answers always carry their fields without omitempty.
		if len(required) > 0 && t.PkgPath() != specPkg {
			s["required"] = required
		}
		o.schemas[name] = s
		return ref
	}
	return map[string]any{}
}

// fields adds the JSON fields of struct t (embedded structs flattened, as encoding/json does).
func (o *openAPI) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				o.fields(ft, props, required)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		props[name] = o.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

var specPkg = reflect.TypeFor[spec.Table]().PkgPath()

// schemaNames name the answer types whose plain name is a definition's.
var schemaNames = map[reflect.Type]string{
	reflect.TypeFor[TableJSON]():    "TableRecord",
	reflect.TypeFor[scheduleJSON](): "ScheduleRecord",
}

// schemaName is a type's name without the "JSON" suffix of the API's answer types, capitalised.
func schemaName(t reflect.Type) string {
	if n, ok := schemaNames[t]; ok {
		return n
	}
	n := strings.TrimSuffix(t.Name(), "JSON")
	if n == "" {
		return "Object"
	}
	return strings.ToUpper(n[:1]) + n[1:]
}
