package state

import (
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
	var probe struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, &CorruptError{Where: where, Err: err}
	}
	if probe.Schema == nil {
		return nil, &CorruptError{Where: where, Err: errors.New("no schema version")}
	}
	if *probe.Schema < 1 {
		return nil, &CorruptError{Where: where, Err: fmt.Errorf("invalid schema version %d", *probe.Schema)}
	}
	if *probe.Schema > SchemaVersion {
		return nil, &SchemaError{Where: where, Found: *probe.Schema}
	}
	s := New()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, &CorruptError{Where: where, Err: err}
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
