// Package tools holds everything MCP-facing about xfollow-mcp's tools: one
// file per tool, the one helper they share (this file), the error mapping and
// the write gate every write tool passes through.
package tools

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	schemacheck "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/flatjson"
)

// Spec is what a tool says about itself. Every hint is set explicitly.
type Spec struct {
	Name        string
	Title       string
	Description string
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	OpenWorld   bool
	// View is the ui:// URI of the MCP Apps view that shows the tool's
	// results (views.go), or "".
	View string
}

// Deps are what handlers need at run time.
type Deps struct {
	Client *aisa.Client
	Logger *slog.Logger
	Gate   *Gate // applies the safety controls to every write
	// Following is what scans of accounts' followings found (nil: nothing
	// is cached).
	Following *FollowingCache
	// Jobs holds clean-up jobs (nil: the job tools answer [jobs_unavailable]).
	Jobs *JobDeps
	// Keys checks a caller's key with the gateway before its first write
	// (the remote mode's --key-from-request; nil: no check).
	Keys *KeyCheck
}

// Call is one tool call in progress.
type Call struct {
	*Deps
	Tool    string
	Request mcp.CallToolRequest
	// input is the validated arguments, encoded by CanonicalArgs only when
	// a confirmation needs them.
	input any
}

// CanonicalArgs are the validated arguments re-encoded canonically (struct
// field order, no unknown keys): what a confirmation is bound to.
func (c *Call) CanonicalArgs() []byte {
	b, _ := json.Marshal(c.input)
	return b
}

// argsValidator is implemented by every tool's input struct: checks that a
// JSON schema cannot express, or that deserve a more useful message.
type argsValidator interface {
	validate() error
}

// Tool is a defined tool: its MCP description and a handler factory.
type Tool struct {
	Spec
	MCP        mcp.Tool
	InSchema   json.RawMessage
	OutSchema  json.RawMessage
	properties []string
	required   []string
	checker    func() (*schemacheck.Schema, error)
	handler    func(d *Deps) server.ToolHandlerFunc
	decode     func(raw []byte) (any, error) // argument validation alone, for tests and fuzzing

	// The types the schemas are generated from (TestEmbeddedSchemas).
	inType, outType reflect.Type
}

// Handler returns the tool's MCP handler bound to d.
func (t Tool) Handler(d *Deps) server.ToolHandlerFunc { return t.handler(d) }

// The tools' JSON schemas are reflected from their input and output types
// once, at build time, into schemas/ (go generate ./tools, which runs
// TestEmbeddedSchemas with UPDATE_SCHEMAS=true); start-up only reads the
// bytes. TestEmbeddedSchemas fails when a file differs from what reflecting
// the type gives now.
//
//go:generate env UPDATE_SCHEMAS=true go test -count=1 -run ^TestEmbeddedSchemas$ .

//go:embed schemas
var schemaFiles embed.FS

// schemaFile is the path in schemaFiles of a tool's input ("in") or output
// ("out") schema.
func schemaFile(tool, dir string) string { return "schemas/" + tool + "." + dir + ".json" }

// schemaSource gives define a tool's schema: the generated file. The
// generator (UPDATE_SCHEMAS=true) replaces it with reflection of t.
var schemaSource = func(tool, dir string, t reflect.Type) json.RawMessage { return embeddedSchema(tool, dir) }

// embeddedSchema returns a tool's schema as generated.
func embeddedSchema(tool, dir string) json.RawMessage {
	raw, err := schemaFiles.ReadFile(schemaFile(tool, dir))
	if err != nil {
		panic(fmt.Sprintf("tools: no %s schema for %s: run go generate ./tools (%v)", dir, tool, err))
	}
	return raw
}

// inputFields returns the properties of an input type's schema, in field
// order, and the required ones (those without omitempty), read from its
// struct tags as the reflector reads them (TestEmbeddedSchemas checks that
// they are the schema's).
func inputFields(t reflect.Type) (props, required []string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props = append(props, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			required = append(required, name)
		}
	}
	return props, required
}

// define builds a Tool from its spec, its input and output types and its run
// function. It panics on a programming error (a schema that does not compile,
// a missing title), so that a bad tool fails every test rather than shipping.
func define[In argsValidator, Out any](spec Spec, run func(ctx context.Context, c *Call, in In) (Out, error)) Tool {
	if spec.Name == "" || spec.Title == "" || spec.Description == "" {
		panic("tools: every tool needs a name, title and description")
	}
	inType, outType := reflect.TypeFor[In](), reflect.TypeFor[Out]()
	inRaw, outRaw := schemaSource(spec.Name, "in", inType), schemaSource(spec.Name, "out", outType)
	props, required := inputFields(inType)

	t := mcp.NewToolWithRawSchema(spec.Name, spec.Description, inRaw)
	t.Title = spec.Title
	t.RawOutputSchema = outRaw
	t.Annotations = mcp.ToolAnnotation{
		Title:           spec.Title,
		ReadOnlyHint:    mcp.ToBoolPtr(spec.ReadOnly),
		DestructiveHint: mcp.ToBoolPtr(spec.Destructive),
		IdempotentHint:  mcp.ToBoolPtr(spec.Idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(spec.OpenWorld),
	}

	if spec.View != "" {
		t.Meta = viewMeta(spec.View)
	}

	tool := Tool{Spec: spec, MCP: t, InSchema: inRaw, OutSchema: outRaw,
		inType: inType, outType: outType, properties: props, required: required}
	// Compiling a schema validates it against the JSON Schema meta-schema,
	// which costs more than the rest of start-up; it is done on the tool's
	// first call instead (TestInputSchemasCompile proves each compiles).
	tool.checker = sync.OnceValues(func() (*schemacheck.Schema, error) { return compileSchema(inRaw) })
	tool.decode = func(raw []byte) (any, error) { return decodeArgs[In](&tool, raw) }

	tool.handler = func(d *Deps) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, _ error) {
			start := time.Now()
			call := &Call{Deps: depsFor(ctx, d), Tool: spec.Name, Request: req}
			defer func() {
				if p := recover(); p != nil {
					d.Logger.Error("tool handler panicked", "tool", spec.Name, "panic", scrubPanic(call.Deps, p), "stack", string(debug.Stack()))
					res = errorResult(&ToolError{Code: CodeInternal,
						Msg: "the server hit an unexpected fault handling this call and did not complete it; nothing is known to have changed, so check the state (for example with check_x_follow_relationship) before retrying once"})
				}
				logCall(d.Logger, spec.Name, start, res)
			}()
			in, err := decodeArgs[In](&tool, argumentBytes(req))
			if err != nil {
				return errorResult(err), nil
			}
			call.input = in
			if !spec.ReadOnly {
				if err := d.Keys.Admit(ctx, call); err != nil {
					return errorResult(err), nil
				}
			}
			out, err := run(ctx, call, in)
			if d.Keys != nil {
				d.Keys.Settled(ctx, call.Client.KeyFingerprint(), err)
			}
			if err != nil {
				var ask *needInput
				if errors.As(err, &ask) {
					return ask.result, nil
				}
				return errorResult(err), nil
			}
			return successResult(out)
		}
	}
	return tool
}

// compileSchema compiles a raw JSON schema for validation.
func compileSchema(raw []byte) (*schemacheck.Schema, error) {
	doc, err := schemacheck.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := schemacheck.NewCompiler()
	if err := c.AddResource("input.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("input.json")
}

// CompileInputSchema compiles the tool's input schema now, for tests.
func (t Tool) CompileInputSchema() error {
	_, err := t.checker()
	return err
}

// argumentBytes returns the call's arguments as JSON, exactly as sent when
// the request came over the wire.
func argumentBytes(req mcp.CallToolRequest) []byte {
	switch a := req.GetRawArguments().(type) {
	case json.RawMessage:
		return a
	case []byte:
		return a
	case nil:
		return nil
	default:
		b, err := json.Marshal(a)
		if err != nil {
			return []byte("null")
		}
		return b
	}
}

// decodeArgs validates raw against the tool's schema, with a corrective
// message for each way it can be wrong, then decodes it strictly and runs the
// input's own checks.
func decodeArgs[In argsValidator](t *Tool, raw []byte) (In, error) {
	var in In
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = []byte("{}")
	}
	// One parse serves the checks on the object's members and the schema
	// validation at the end (it was parsed once for each before).
	doc, err := parseArgs(trimmed)
	fields, isObject := doc.(map[string]any)
	if err != nil || !isObject {
		return in, invalidArg("the arguments must be a JSON object, e.g. %s", exampleArgs(t))
	}
	// Unknown fields, sorted so the message is stable.
	var unknown []string
	for k := range fields {
		if !slices.Contains(t.properties, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return in, invalidArg("unknown argument %s; %s takes only %s", quoteList(unknown), t.Name, quoteList(t.properties))
	}
	for _, k := range t.required {
		if _, ok := fields[k]; !ok {
			return in, invalidArg("missing required argument %q: send %s", k, fieldHelp(k))
		}
	}
	for _, k := range t.properties {
		if v, ok := fields[k]; ok && v == nil {
			return in, invalidArg("%s is null: send %s, or leave it out if it is optional", k, fieldHelp(k))
		}
	}
	// Every member is one of the input's own (checked above, by exact name),
	// and trimmed is one JSON value (the parse above refused anything else),
	// so a plain Unmarshal reads it as a strict decoder would, without one.
	if err := json.Unmarshal(trimmed, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := te.Field
			if i := strings.IndexAny(field, ".["); i > 0 {
				field = field[:i]
			}
			if field == "target_user_id" {
				return in, invalidArg("target_user_id must be the id in quotes, e.g. \"2244994945\", not a JSON %s (X ids are too long for JSON numbers to carry exactly)", te.Value)
			}
			if field == "target_user_ids" {
				return in, invalidArg("target_user_ids must be a list of ids, each in quotes, e.g. [\"2244994945\",\"783214\"]; it held a JSON %s (X ids are too long for JSON numbers to carry exactly)", te.Value)
			}
			return in, invalidArg("%s must be %s, not a JSON %s: send %s", field, jsonKind(te.Type.Kind().String()), te.Value, fieldHelp(field))
		}
		return in, invalidArg("the arguments could not be read (%s): send a JSON object such as %s", shorten(err.Error(), 80), exampleArgs(t))
	}
	// The input's own checks give the most specific message; run them first.
	if err := in.validate(); err != nil {
		return in, err
	}
	// Then the published schema itself, as a net for anything the checks
	// above do not cover.
	checker, err := t.checker()
	if err != nil {
		// An uncompilable schema must never silently disable validation.
		panic(fmt.Sprintf("tools: %s input schema does not compile: %v", t.Name, err))
	}
	if err := checker.Validate(doc); err != nil {
		return in, invalidArg("the arguments do not match the tool's input schema (%s): send a JSON object such as %s", shorten(oneLine(err.Error()), 160), exampleArgs(t))
	}
	return in, nil
}

// parseArgs parses arguments as the schema validator's own parser does
// (numbers as json.Number), reading the usual flat shape,
// {"target_user_id":"2244994945","dry_run":true}, directly
// (internal/flatjson); FuzzToolArguments holds the result to the
// validator's parse, as decodeArgsReference makes it.
func parseArgs(raw []byte) (any, error) {
	m := make(map[string]any, 4)
	end, ok := flatjson.Object(raw, 0, flatjson.Literals|flatjson.Strings, func(k, v []byte) {
		switch v[0] {
		case '"':
			m[string(k)] = string(v[1 : len(v)-1])
		case 't':
			m[string(k)] = true
		case 'f':
			m[string(k)] = false
		default:
			m[string(k)] = nil
		}
	})
	if ok && flatjson.SkipSpace(raw, end) == len(raw) {
		return m, nil
	}
	return schemacheck.UnmarshalJSON(bytes.NewReader(raw))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "uint", "float64":
		return "an integer"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

func quoteList(ks []string) string {
	q := make([]string, len(ks))
	for i, k := range ks {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// shorten cuts s to n runes.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

// successResult renders a tool's output as structuredContent plus the same
// JSON as text.
func successResult(out any) (*mcp.CallToolResult, error) {
	text, err := MarshalText(out)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return mcp.NewToolResultStructured(out, string(text)), nil
}

// MarshalText encodes v as compact JSON for a person or a model to read:
// unlike json.Marshal it leaves &, < and > as they are, so a link such as
// link_x_account's auth_url can be copied from the text as it stands
// (json.Marshal would write its ampersands as \u0026, which a browser does
// not undo). Nothing here is embedded in HTML, the one place that escaping
// protects.
func MarshalText(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func logCall(l *slog.Logger, name string, start time.Time, res *mcp.CallToolResult) {
	if l == nil || !l.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	outcome := "ok"
	if res != nil && res.IsError {
		outcome = "error"
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(mcp.TextContent); ok {
				outcome = errorCodeOf(tc.Text)
			}
		}
	}
	// The record is built by hand: slog's Info would also capture the
	// caller's program counter (runtime.Callers, a few microseconds a
	// call), which a handler without AddSource never reads.
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "tool call", 0)
	r.AddAttrs(slog.String("tool", name), slog.String("outcome", outcome), slog.Int64("duration_ms", time.Since(start).Milliseconds()))
	_ = l.Handler().Handle(context.Background(), r)
}

// scrubPanic renders a panic value without the API key in it.
func scrubPanic(d *Deps, p any) string {
	s := fmt.Sprint(p)
	if d != nil && d.Client != nil {
		s = d.Client.Scrub(s)
	}
	return s
}
