package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML decodes a Go duration string such as "10s", "1m30s" or "500ms". A number
// without a unit is refused: "10" could mean seconds or nanoseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like \"10s\" or \"5m\", got %s", describeNode(n))
	}
	if n.ShortTag() == "!!null" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("want a duration like \"10s\" or \"5m\", got %s", quote(n.Value))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML encodes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String returns d as a Go duration string ("10s").
func (d Duration) String() string { return time.Duration(d).String() }
