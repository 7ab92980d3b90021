package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CheckConfigFields reads the JSON text of an OCI config.json and returns an
// *Error for each object member that names no field of runtime-spec's
// specs.Spec at its place, such as "process.noNewPrivilege" (a misspelling
// of noNewPrivileges), or nil. A field nsfork does not know would otherwise
// be dropped by the JSON decoder without a word, and the process would run
// without what the config meant to ask.
//
// Names match exactly: encoding/json would also take "NoNewPrivileges", but
// a config is read by runtimes that do not, so a name in another case is
// refused too, with the spelling it probably meant. The values of maps
// (annotations, linux.sysctl, linux.resources.unified, ...) are free-form.
// Text that is not valid JSON is left to the decoder to report.
func CheckConfigFields(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil // the typed decode reports it, with its offset
	}
	var errs errList
	checkFields(&errs, v, reflect.TypeFor[specs.Spec](), "")
	return errs.err()
}

// checkFields compares the decoded JSON value v with the Go type t that
// encoding/json would decode it into, and records an error for every object
// member t has no field for. Values whose shape does not fit t are left to
// the typed decode.
func checkFields(errs *errList, v any, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			p := joinPath(path, k)
			f, ok := fields[k]
			if !ok {
				reason := "unknown field"
				if s := suggestField(k, fields); s != "" {
					reason += fmt.Sprintf(" (did you mean %q?)", s)
				}
				errs.add(p, "", reason)
				continue
			}
			checkFields(errs, obj[k], f.Type, p)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			checkFields(errs, e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(obj) {
			checkFields(errs, obj[k], t.Elem(), joinPath(path, k))
		}
	}
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields maps the JSON names of t's fields to the fields, with the
// fields of embedded structs without a name of their own promoted, as
// encoding/json promotes them.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for n, ef := range jsonFields(et) {
					if _, ok := m[n]; !ok {
						m[n] = ef
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f
	}
	return m
}

// suggestField returns the known name that k most likely misspells: the
// same name in another case, or one at most two edits away; "" if none.
func suggestField(k string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for n := range fields {
		if strings.EqualFold(n, k) {
			return n
		}
		if d := editDistance(strings.ToLower(k), strings.ToLower(n)); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
