package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a non-empty Secret shows instead of its value.
const Redacted = "[redacted]"

// Secret is a configuration value that must never be shown: a webhook URL, a token, a signing
// secret. Every way of printing or encoding it (fmt with any verb, JSON, YAML, text, slog)
// gives Redacted, or "" when it is empty; Reveal returns the value for the one place that uses
// it. It decodes from YAML as a plain string.
type Secret string

// String returns Redacted, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Format prints the redacted form whatever the verb, so that no format string can reveal the
// value.
func (s Secret) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML encodes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText encodes the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
