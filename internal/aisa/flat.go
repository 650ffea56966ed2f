package aisa

import (
	"encoding/json"

	"github.com/xfollow-mcp/xfollow-mcp/internal/flatjson"
)

// The gateway answers every follow and unfollow with the same small shape,
// {"data":{"following":false,"pending_follow":false}}; decoding it with
// encoding/json (the envelope, then data's members) was a sixth of a call's
// CPU in the remote mode. These read that shape, and only that shape,
// directly (internal/flatjson); anything else goes the general way. The
// differential tests and fuzz targets in envelope_test.go hold both paths
// to encoding/json's answer.

// flatMembers is exactMembers for a flat object of true, false and null
// values followed by nothing but white space.
func flatMembers(obj []byte) (map[string]json.RawMessage, bool) {
	m := make(map[string]json.RawMessage, 2)
	end, ok := flatjson.Object(obj, 0, flatjson.Literals, func(k, v []byte) { m[string(k)] = v })
	return m, ok && flatjson.SkipSpace(obj, end) == len(obj)
}

// flatEnvelope reads {"data":FLAT} (white space allowed where JSON allows
// it, nothing after it but white space), where FLAT is a flat object of
// true, false and null values. It returns the top-level members and data.
func flatEnvelope(raw []byte) (map[string]json.RawMessage, json.RawMessage, bool) {
	i := flatjson.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, nil, false
	}
	i = flatjson.SkipSpace(raw, i+1)
	const key = `"data"`
	if len(raw)-i < len(key) || string(raw[i:i+len(key)]) != key {
		return nil, nil, false
	}
	i = flatjson.SkipSpace(raw, i+len(key))
	if i >= len(raw) || raw[i] != ':' {
		return nil, nil, false
	}
	start := flatjson.SkipSpace(raw, i+1)
	end, ok := flatjson.Object(raw, start, flatjson.Literals, nil)
	if !ok {
		return nil, nil, false
	}
	i = flatjson.SkipSpace(raw, end)
	if i >= len(raw) || raw[i] != '}' || flatjson.SkipSpace(raw, i+1) != len(raw) {
		return nil, nil, false
	}
	data := json.RawMessage(raw[start:end:end])
	return map[string]json.RawMessage{"data": data}, data, true
}
