package project

import (
	"reflect"
	"strings"
)

// SidecarKeyPaths lists every key the sidecar parser reads, as paths of the TABLE.yaml
// ("import.full_refresh.months", "exports[].sheet.keep_tabs"), from the yaml tags of tableFile:
// a key added there is in this list without anyone remembering to add it.
func SidecarKeyPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walk(f.Type, prefix)
				continue
			}
			p := prefix + name
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct:
				out = append(out, p)
				walk(ft, p+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				out = append(out, p)
				walk(ft.Elem(), p+"[].")
			default:
				out = append(out, p)
			}
		}
	}
	walk(reflect.TypeFor[tableFile](), "")
	return out
}
