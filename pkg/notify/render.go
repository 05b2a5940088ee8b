package notify

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/knowledge"
	"github.com/wahealth/wahealth/templates"
)

// Funcs are the functions every message template may call.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"entityName": EntityName,
		"targetName": TargetName,
		"describe":   Describe,
		"icon":       Icon,
		"upper":      strings.ToUpper,
		"ts":         func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"duration":   Duration,
		"explain":    Explain,
		"human":      Human,
	}
}

// LoadTemplate parses the template for channel: from file when non-empty, else <channel>.tmpl
// in dir when dir is non-empty and has it, else the built-in one. A broken template is an error
// here, at start-up, not at alert time.
func LoadTemplate(channel, dir, file string) (*template.Template, error) {
	name := channel + ".tmpl"
	var src []byte
	var err error
	switch {
	case file != "":
		src, err = os.ReadFile(file)
	case dir != "":
		src, err = os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			src, err = fs.ReadFile(templates.FS, name)
		}
	default:
		src, err = fs.ReadFile(templates.FS, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s template: %w", channel, err)
	}
	t, err := template.New(name).Funcs(Funcs()).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parse %s template: %w", channel, err)
	}
	// Execute once on a sample so that a template calling a missing field fails now.
	if _, err := Render(t, Sample(time.Unix(0, 0))); err != nil {
		return nil, fmt.Errorf("check %s template: %w", channel, err)
	}
	return t, nil
}

// Render executes t for m.
func Render(t *template.Template, m *Message) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, m); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

// Explain returns wahealth's knowledge about an error code (title, meaning, what to do), or
// nil for a code it does not know.
func Explain(code string) *knowledge.Entry {
	if e, ok := knowledge.Builtin().Lookup(code); ok {
		return &e
	}
	return nil
}

// Duration says how long from since to now, for people: "45m", "2h 5m", "3d 4h".
func Duration(since, now time.Time) string { return Human(now.Sub(since)) }

// Human says how long d is, for people: "45m", "2h 5m", "3d 4h".
func Human(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	days, hours, minutes := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, minutes)
	}
	return fmt.Sprintf("%dm", minutes)
}

// EntityName names an entity for people: "phone number 8613800000001", "template
// welcome (en)", "WABA 1000001".
func EntityName(e health.Entity) string {
	switch e.Type {
	case health.PhoneNumber:
		return "phone number " + e.ID
	case health.Template:
		name := e.TemplateCode
		if name == "" {
			name = e.ID
		}
		if e.Language != "" {
			return fmt.Sprintf("template %s (%s)", name, e.Language)
		}
		return "template " + name
	case health.WABA:
		return "WABA " + e.ID
	case health.Business:
		return "business " + e.ID
	case health.App:
		return "app (custSpace " + e.ID + ")"
	}
	return string(e.Type) + " " + e.ID
}

// TargetName names a configured target for people.
func TargetName(t health.Target) string {
	var s string
	switch t.NodeType {
	case health.NodePhone:
		s = "phone " + t.PhoneNumber
	case health.NodeTemplate:
		s = fmt.Sprintf("template %s (%s)", t.TemplateCode, t.Language)
	case health.NodeWABA:
		s = "WABA " + t.WabaID
	default:
		s = string(t.NodeType)
	}
	return s + " in custSpace " + t.CustSpaceID
}

// Describe says what a change is in a few words.
func Describe(c health.Change) string {
	errText := func() string {
		if c.Error != nil && c.Error.Description != "" {
			return c.ErrorCode + " (" + c.Error.Description + ")"
		}
		return c.ErrorCode
	}
	switch c.Kind {
	case health.StatusChanged:
		if c.Recovery() && c.To.OK() {
			return fmt.Sprintf("recovered: %s → %s", c.From, c.To)
		}
		return fmt.Sprintf("%s → %s", c.From, c.To)
	case health.ErrorAdded:
		return "new error " + errText()
	case health.ErrorCleared:
		return "error cleared " + errText()
	case health.EntityAdded:
		return fmt.Sprintf("now monitored: %s", c.To)
	case health.EntityRemoved:
		return fmt.Sprintf("no longer returned by CAMS (was %s)", c.From)
	}
	return string(c.Kind)
}

// Icon is a status glyph.
func Icon(s health.Status) string {
	switch s {
	case health.Available:
		return "✅"
	case health.Limited:
		return "🟠"
	case health.Blocked:
		return "🔴"
	}
	return "❔"
}

// Sample returns a clearly marked test message, used by -test-notify and to check templates.
func Sample(now time.Time) *Message {
	m := &Message{Kind: KindTest, CycleID: "test", Time: now}
	m.Alerts = []Alert{{
		Entity:   health.Entity{Type: health.PhoneNumber, ID: "0000000000", PhoneNumber: "0000000000", CanSendMessage: health.Blocked, Errors: []health.Error{{Code: "141006", Description: "There is an error with the payment method.", Solution: "There was an error with your payment method. Please add a new payment method to the account."}}},
		Severity: health.Critical,
		Changes:  []health.Change{{Kind: health.StatusChanged, Entity: health.Key{Type: health.PhoneNumber, ID: "0000000000"}, From: health.Available, To: health.Blocked}},
	}}
	m.Seal()
	return m
}
