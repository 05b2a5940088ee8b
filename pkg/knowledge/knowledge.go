// Package knowledge is what wahealth knows about the error codes Meta reports: a plain
// explanation and what to do, shown in every alert next to the API's own description. The data
// is codes.yaml, compiled from public Meta documentation and the sources it cites; a code it
// does not know is shown with Meta's strings alone.
package knowledge

import (
	_ "embed"
	"fmt"
	"sync"

	"gopkg.in/yaml.v3"
)

// Entry is the knowledge about one error code.
type Entry struct {
	Code    string `yaml:"code" json:"code"`
	Title   string `yaml:"title" json:"title"`
	Meaning string `yaml:"meaning" json:"meaning"`
	Fix     string `yaml:"fix" json:"fix"`
	// Level is the entity the problem usually sits on (phone, template, waba, business, app).
	Level string `yaml:"level" json:"level"`
	// Confidence is documented, relayed or observed.
	Confidence string `yaml:"confidence" json:"confidence"`
	// CallingOnly marks codes about WhatsApp calling over SIP, which do not affect messaging.
	CallingOnly bool `yaml:"callingOnly" json:"callingOnly,omitempty"`
}

//go:embed codes.yaml
var data []byte

// Base is a set of entries by code.
type Base map[string]Entry

// Parse reads a codes file.
func Parse(b []byte) (Base, error) {
	var doc struct {
		Codes []Entry `yaml:"codes"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse error codes: %w", err)
	}
	out := Base{}
	for i, e := range doc.Codes {
		switch {
		case e.Code == "":
			return nil, fmt.Errorf("codes[%d]: code is required", i)
		case e.Meaning == "" || e.Fix == "":
			return nil, fmt.Errorf("codes[%d] (%s): meaning and fix are required", i, e.Code)
		}
		if _, dup := out[e.Code]; dup {
			return nil, fmt.Errorf("codes[%d]: %s appears twice", i, e.Code)
		}
		switch e.Confidence {
		case "documented", "relayed", "observed":
		default:
			return nil, fmt.Errorf("codes[%d] (%s): confidence must be documented, relayed or observed", i, e.Code)
		}
		out[e.Code] = e
	}
	return out, nil
}

// Builtin returns the embedded knowledge base (parsed once; read-only).
func Builtin() Base { return builtin() }

var builtin = sync.OnceValue(func() Base {
	b, err := Parse(data)
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return b
})

// Lookup returns the entry for code.
func (b Base) Lookup(code string) (Entry, bool) {
	e, ok := b[code]
	return e, ok
}
