package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
)

// Encode serialises s as the JSON document every backend stores.
// It does not modify s.
func Encode(s *State) ([]byte, error) {
	c := *s
	if c.Schema == 0 {
		c.Schema = SchemaVersion
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// Decode parses a stored document. where names it in errors (a file path, an object key).
// An empty, truncated or otherwise undecodable document is a *CorruptError; a newer schema a
// *SchemaError.
func Decode(where string, b []byte) (*State, error) {
	// One pass in the common case; the schema is checked after decoding. Only when decoding
	// fails is the document probed for its schema, to tell "newer" from "damaged".
	s := New()
	s.Schema = 0
	if err := json.Unmarshal(b, s); err != nil {
		var probe struct {
			Schema *int `json:"schema"`
		}
		if json.Unmarshal(b, &probe) == nil && probe.Schema != nil && *probe.Schema > SchemaVersion {
			return nil, &SchemaError{Where: where, Found: *probe.Schema}
		}
		return nil, &CorruptError{Where: where, Err: err}
	}
	switch {
	case s.Schema > SchemaVersion:
		return nil, &SchemaError{Where: where, Found: s.Schema}
	case s.Schema == 0 && !bytes.Contains(b, []byte(`"schema"`)):
		return nil, &CorruptError{Where: where, Err: errors.New("no schema version")}
	case s.Schema < 1:
		return nil, &CorruptError{Where: where, Err: fmt.Errorf("invalid schema version %d", s.Schema)}
	}
	if s.Snapshot == nil {
		s.Snapshot = health.NewSnapshot()
	}
	if s.Targets == nil {
		s.Targets = map[string]*Target{}
	}
	if s.Alerting == nil {
		s.Alerting = map[string]*policy.Memory{}
	}
	return s, nil
}
