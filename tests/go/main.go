// Command godiff answers questions about how Go's standard library reads HTTP requests, so that
// dockward's Python readers can be compared with the real thing (tests/differential).
//
// Protocol: one JSON object per line on standard input, {"fn": NAME, "input": {...}}, and one
// JSON object per line on standard output, {"result": {...}} or {"error": "..."} when the
// request itself was malformed. Byte strings travel as base64 ([]byte in Go's encoding/json), so
// inputs and answers that are not UTF-8 survive the trip. Standard library only.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"reflect"
	"sort"
	"strings"
	"unicode"
)

type request struct {
	Fn    string          `json:"fn"`
	Input json.RawMessage `json:"input"`
}

type response struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

type handler func(input json.RawMessage) (any, error)

var handlers = map[string]handler{
	"ParseMediaType": parseMediaType,
	"ParseQuery":     parseQuery,
	"Request":        readRequest,
	"RequestURI":     requestURI,
	"PathClean":      pathClean,
	"DecodeJSON":     decodeJSON,
	"EqualFold":      equalFold,
	"BoolValue":      boolValue,
	"UnicodeTables":  unicodeTables,
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if encErr := enc.Encode(answer(line)); encErr != nil {
				fmt.Fprintln(os.Stderr, "godiff:", encErr)
				os.Exit(1)
			}
			if flushErr := out.Flush(); flushErr != nil {
				os.Exit(1)
			}
		}
		if err != nil {
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "godiff:", err)
				os.Exit(1)
			}
			return
		}
	}
}

func answer(line []byte) response {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return response{Error: "bad request line: " + err.Error()}
	}
	h, ok := handlers[req.Fn]
	if !ok {
		return response{Error: "unknown fn " + req.Fn}
	}
	result, err := h(req.Input)
	if err != nil {
		return response{Error: req.Fn + ": " + err.Error()}
	}
	return response{Result: result}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pairs is url.Values (or any string multimap) with its keys sorted: maps have no order.
type pair struct {
	Key    []byte   `json:"key"`
	Values [][]byte `json:"values"`
}

func pairsOf(values map[string][]string) []pair {
	result := []pair{}
	for key, vs := range values {
		p := pair{Key: []byte(key), Values: [][]byte{}}
		for _, v := range vs {
			p.Values = append(p.Values, []byte(v))
		}
		result = append(result, p)
	}
	sort.Slice(result, func(i, j int) bool { return string(result[i].Key) < string(result[j].Key) })
	return result
}

// --- mime.ParseMediaType ----------------------------------------------------------------------

func parseMediaType(input json.RawMessage) (any, error) {
	var in struct {
		Value []byte `json:"value"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	mediatype, params, err := mime.ParseMediaType(string(in.Value))
	multi := map[string][]string{}
	for k, v := range params {
		multi[k] = []string{v}
	}
	return struct {
		MediaType []byte `json:"mediatype"`
		Params    []pair `json:"params"`
		Err       string `json:"err"`
	}{[]byte(mediatype), pairsOf(multi), errText(err)}, nil
}

// --- url.ParseQuery ---------------------------------------------------------------------------

func parseQuery(input json.RawMessage) (any, error) {
	var in struct {
		Query []byte `json:"query"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	values, err := url.ParseQuery(string(in.Query))
	return struct {
		Values []pair `json:"values"`
		Err    string `json:"err"`
	}{pairsOf(values), errText(err)}, nil
}

// --- a whole request, read as net/http's server reads it, then r.ParseForm -----------------

func copyValues(values url.Values) map[string][]string {
	result := map[string][]string{}
	for k, vs := range values {
		result[k] = append([]string(nil), vs...)
	}
	return result
}

func readRequest(input json.RawMessage) (any, error) {
	var in struct {
		Raw []byte `json:"raw"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	type answer struct {
		ReadErr           string `json:"read_err"`
		Method            string `json:"method"`
		Path              []byte `json:"path"`
		RawQuery          []byte `json:"raw_query"`
		ContentType       []byte `json:"content_type"`
		ParseFormErr      string `json:"parse_form_err"`
		Form              []pair `json:"form"`
		PostForm          []pair `json:"post_form"`
		MultipartErr      string `json:"multipart_err"`
		FormAfterMultpart []pair `json:"form_after_multipart"`
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in.Raw)))
	if err != nil {
		return answer{ReadErr: err.Error()}, nil
	}
	a := answer{
		Method:      r.Method,
		Path:        []byte(r.URL.Path),
		RawQuery:    []byte(r.URL.RawQuery),
		ContentType: []byte(r.Header.Get("Content-Type")),
	}
	// What dockerd's httputils.ParseForm does (it ignores errors starting with "mime:").
	a.ParseFormErr = errText(r.ParseForm())
	a.Form = pairsOf(copyValues(r.Form))
	a.PostForm = pairsOf(copyValues(r.PostForm))
	// What r.FormValue does next (httputils.BoolValue, r.FormValue in handlers).
	a.MultipartErr = errText(r.ParseMultipartForm(32 << 20))
	a.FormAfterMultpart = pairsOf(copyValues(r.Form))
	return a, nil
}

// --- the request target: url.ParseRequestURI, then gorilla/mux's cleanPath redirect check --

// muxCleanPath is the rule gorilla/mux applies before routing: path.Clean of the rooted path,
// with a trailing slash put back; a path that changes is answered with a 301.
func muxCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	cleaned := path.Clean(p)
	if p[len(p)-1] == '/' && cleaned != "/" {
		cleaned += "/"
	}
	return cleaned
}

func requestURI(input json.RawMessage) (any, error) {
	var in struct {
		Target []byte `json:"target"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	type answer struct {
		Err      string `json:"err"`
		Path     []byte `json:"path"`
		RawQuery []byte `json:"raw_query"`
		Clean    []byte `json:"clean"`
	}
	u, err := url.ParseRequestURI(string(in.Target))
	if err != nil {
		return answer{Err: err.Error()}, nil
	}
	return answer{Path: []byte(u.Path), RawQuery: []byte(u.RawQuery), Clean: []byte(muxCleanPath(u.Path))}, nil
}

func pathClean(input json.RawMessage) (any, error) {
	var in struct {
		Path []byte `json:"path"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	return struct {
		Clean []byte `json:"clean"`
		Mux   []byte `json:"mux"`
	}{[]byte(path.Clean(string(in.Path))), []byte(muxCleanPath(string(in.Path)))}, nil
}

// --- encoding/json into a struct built from a field list ------------------------------------

// field describes one struct field: its Go name (the JSON key, as dockerd's API structs have
// no json tags on the fields the policy reads) and its type.
type field struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"` // bool, string, int64, strings, strmap, any, object, objects
	Fields []field `json:"fields"`
}

func structType(fields []field) (reflect.Type, error) {
	var sf []reflect.StructField
	for _, f := range fields {
		var t reflect.Type
		switch f.Type {
		case "bool":
			t = reflect.TypeOf(false)
		case "string":
			t = reflect.TypeOf("")
		case "int64":
			t = reflect.TypeOf(int64(0))
		case "strings":
			t = reflect.TypeOf([]string(nil))
		case "strmap":
			t = reflect.TypeOf(map[string]string(nil))
		case "any":
			t = reflect.TypeOf((*any)(nil)).Elem()
		case "object", "objects":
			inner, err := structType(f.Fields)
			if err != nil {
				return nil, err
			}
			if f.Type == "object" {
				t = reflect.PointerTo(inner)
			} else {
				t = reflect.SliceOf(inner)
			}
		default:
			return nil, fmt.Errorf("unknown field type %q", f.Type)
		}
		sf = append(sf, reflect.StructField{Name: f.Name, Type: t})
	}
	return reflect.StructOf(sf), nil
}

func decodeJSON(input json.RawMessage) (any, error) {
	var in struct {
		Fields []field `json:"fields"`
		Body   []byte  `json:"body"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	t, err := structType(in.Fields)
	if err != nil {
		return nil, err
	}
	target := reflect.New(t)
	// dockerd reads a body with json.NewDecoder(body).Decode(&v): one value, whatever follows.
	dec := json.NewDecoder(bytes.NewReader(in.Body))
	decodeErr := dec.Decode(target.Interface())
	// Newer dockerd versions refuse what follows the value; the tests want both readings.
	trailing := decodeErr == nil && len(bytes.Trim(in.Body[dec.InputOffset():], " \t\r\n")) > 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(target.Interface()); err != nil {
		return nil, err
	}
	return struct {
		Err      string          `json:"err"`
		Trailing bool            `json:"trailing"`
		Value    json.RawMessage `json:"value"`
	}{errText(decodeErr), trailing, json.RawMessage(bytes.TrimSpace(buf.Bytes()))}, nil
}

// --- case folding, lower-casing, spaces ------------------------------------------------------

func equalFold(input json.RawMessage) (any, error) {
	var in struct {
		A []byte `json:"a"`
		B []byte `json:"b"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	return struct {
		Equal bool `json:"equal"`
	}{bytes.EqualFold(in.A, in.B)}, nil
}

// boolValue is dockerd's httputils.BoolValue on one form value: false only for "", "0", "no",
// "false" and "none" after strings.TrimSpace and strings.ToLower.
func boolValue(input json.RawMessage) (any, error) {
	var in struct {
		Value []byte `json:"value"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	s := strings.ToLower(strings.TrimSpace(string(in.Value)))
	result := !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
	return struct {
		True bool `json:"true"`
	}{result}, nil
}

// unicodeTables lists, for every rune, where unicode.ToLower, the smallest member of the
// unicode.SimpleFold orbit, or unicode.IsSpace say something other than "itself" / "no".
func unicodeTables(json.RawMessage) (any, error) {
	lower := [][2]rune{}
	fold := [][2]rune{}
	space := []rune{}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l != r {
			lower = append(lower, [2]rune{r, l})
		}
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < smallest {
				smallest = f
			}
		}
		if smallest != r {
			fold = append(fold, [2]rune{r, smallest})
		}
		if unicode.IsSpace(r) {
			space = append(space, r)
		}
	}
	return struct {
		Version string    `json:"unicode_version"`
		Lower   [][2]rune `json:"lower"`
		Fold    [][2]rune `json:"fold"`
		Space   []rune    `json:"space"`
	}{unicode.Version, lower, fold, space}, nil
}
