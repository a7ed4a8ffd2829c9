// Package jsonkeys rewrites the object keys of a JSON document from Go's
// CamelCase field names (what encoding/json writes for untagged structs) to
// snake_case, so that records written before their types had snake_case tags
// stay readable.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// exceptions are names whose snake form is not the mechanical one.
var exceptions = map[string]string{"DiT": "dit", "Encoder": "cond_encoder", "UNet": "unet"}

// ToSnake converts one key: "ModelChannels" -> "model_channels", "MLPRatio" ->
// "mlp_ratio", "NumResBlocks" -> "num_res_blocks". Keys without upper-case
// letters are returned unchanged.
func ToSnake(k string) string {
	if e, ok := exceptions[k]; ok {
		return e
	}
	r := []rune(k)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsUpper(r[i-1]) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Snake returns the JSON document b with every object key passed through
// ToSnake (numbers keep their digits).
func Snake(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(walk(v))
}

func walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[ToSnake(k)] = walk(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = walk(x[i])
		}
		return x
	}
	return v
}
