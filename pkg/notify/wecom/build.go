package wecom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// DefaultMaxContentBytes bounds the markdown content of one message. WeCom refuses more than
// 4,096 bytes (errcode 40058); the margin covers the robot's own accounting.
const DefaultMaxContentBytes = 4000

// maxTextBytes is WeCom's limit on the content of a text message.
const maxTextBytes = 2048

// DefaultMaxParts is how many markdown messages one alert may be split into; what does not fit
// is summarised as "and N more". With the mention message it stays below the limiter's burst,
// so a split alert goes out at once.
const DefaultMaxParts = 8

// TemplateNames are the named templates a WeCom template must define (see
// templates/wecom.tmpl).
var TemplateNames = []string{
	"wecom.title", "wecom.header", "wecom.intro", "wecom.alert",
	"wecom.failure", "wecom.entity", "wecom.footer",
}

// Settings are the WeCom options that shape the messages (everything but where to send them).
type Settings struct {
	// AtUserIDs are mentioned as <@userid> at the end of the markdown; AtMobiles and AtAll
	// (WeCom markdown cannot mention them) in a short text message sent after it. Both only
	// for messages whose severity is in AtSeverities.
	AtMobiles []string
	AtUserIDs []string
	AtAll     bool
	// AtSeverities are the severities that mention people (default: critical, when anyone is
	// to be mentioned).
	AtSeverities []health.Severity
	// MaxContentBytes bounds the markdown content of one message (default
	// DefaultMaxContentBytes).
	MaxContentBytes int
	// MaxParts bounds how many markdown messages one message becomes (default DefaultMaxParts).
	MaxParts int
}

// SettingsOf returns the message settings of a wecom notifier's configuration.
func SettingsOf(n config.Notifier) Settings {
	s := Settings{AtMobiles: n.AtMobiles, AtUserIDs: n.AtUserIDs, AtAll: n.AtAll}
	for _, v := range n.AtSeverities {
		s.AtSeverities = append(s.AtSeverities, health.Severity(v))
	}
	return s
}

// mentions reports whether a message of severity sev mentions anyone.
func (s Settings) mentions(sev health.Severity) bool {
	if len(s.AtMobiles) == 0 && len(s.AtUserIDs) == 0 && !s.AtAll {
		return false
	}
	sevs := s.AtSeverities
	if len(sevs) == 0 {
		sevs = []health.Severity{health.Critical}
	}
	return slices.Contains(sevs, sev)
}

// Payload is the JSON body of one request to a WeCom group robot: a markdown message, or the
// text message that carries mentions by mobile number and @all.
type Payload struct {
	MsgType  string    `json:"msgtype"`
	Markdown *Markdown `json:"markdown,omitempty"`
	Text     *Text     `json:"text,omitempty"`
}

// Markdown is a markdown message.
type Markdown struct {
	Content string `json:"content"`
}

// Text is a text message; its mention lists take user ids, mobile numbers and "@all".
type Text struct {
	Content             string   `json:"content"`
	MentionedList       []string `json:"mentioned_list,omitempty"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

// Encode returns p as the exact bytes sent (HTML characters such as < and & are not escaped).
func (p Payload) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode wecom message: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// BuildRequests renders m with tpl into the bodies to send, in order: one markdown message,
// or several ("(2/3)" in the header) when the content would exceed s.MaxContentBytes. Blocks
// (the alerts, failures, baseline entities) are never reordered; those beyond s.MaxParts
// messages are summarised as "and N more". When m's severity calls for mentions, the first
// markdown message ends with the <@userid> mentions, and a text message mentioning the mobile
// numbers (and @all) follows the markdown ones. It is a pure function.
func BuildRequests(m *notify.Message, tpl *template.Template, s Settings) ([]Payload, error) {
	exec := func(name string, data any) (string, error) {
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
			return "", fmt.Errorf("render %s: %w", name, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	title, err := exec("wecom.title", m)
	if err != nil {
		return nil, err
	}
	header, err := exec("wecom.header", m)
	if err != nil {
		return nil, err
	}
	footer, err := exec("wecom.footer", m)
	if err != nil {
		return nil, err
	}
	var blocks []string
	add := func(name string, data any) error {
		b, err := exec(name, data)
		if err == nil && b != "" {
			blocks = append(blocks, b)
		}
		return err
	}
	if err := add("wecom.intro", m); err != nil {
		return nil, err
	}
	for _, a := range m.Alerts {
		if err := add("wecom.alert", a); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Failures {
		if err := add("wecom.failure", f); err != nil {
			return nil, err
		}
	}
	if m.Baseline != nil {
		for _, e := range m.Baseline.NotAvailable {
			if err := add("wecom.entity", e); err != nil {
				return nil, err
			}
		}
	}

	maxBytes := s.MaxContentBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxContentBytes
	}
	maxParts := s.MaxParts
	if maxParts <= 0 {
		maxParts = DefaultMaxParts
	}
	mentions := s.mentions(m.Severity)
	var users string
	if mentions && len(s.AtUserIDs) > 0 {
		var b strings.Builder
		for i, v := range s.AtUserIDs {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString("<@" + v + ">")
		}
		users = b.String()
	}
	content := func(part []string, marker string, first bool, more int) string {
		var b strings.Builder
		line, rest, _ := strings.Cut(header, "\n")
		b.WriteString(line + marker)
		if rest != "" {
			b.WriteString("\n" + rest)
		}
		for _, blk := range part {
			b.WriteString("\n\n")
			b.WriteString(blk)
		}
		if more > 0 {
			fmt.Fprintf(&b, "\n\n**… and %d more** not shown here (message size limit).", more)
		}
		b.WriteString("\n\n")
		b.WriteString(footer)
		if first && users != "" {
			b.WriteString("\n" + users)
		}
		return b.String()
	}
	widest := fmt.Sprintf(" (%d/%d)", maxParts, maxParts)
	fits := func(part []string, first bool, more int) bool {
		return len(content(part, widest, first, more)) <= maxBytes
	}
	shrink := func(blk string, first bool) string {
		return shrinkBlock(blk, func(b string) bool { return fits([]string{b}, first, 0) })
	}
	parts, more := pack(blocks, maxParts, fits, shrink)
	var out []Payload
	for i, part := range parts {
		marker := ""
		if len(parts) > 1 {
			marker = fmt.Sprintf(" (%d/%d)", i+1, len(parts))
		}
		n := 0
		if i == len(parts)-1 {
			n = more
		}
		c := content(part, marker, i == 0, n)
		if len(c) > maxBytes {
			return nil, fmt.Errorf("wecom message part %d is %d bytes, over the %d-byte limit even without blocks: shorten the header and footer templates", i+1, len(c), maxBytes)
		}
		out = append(out, Payload{MsgType: "markdown", Markdown: &Markdown{Content: c}})
	}
	if mentions && (len(s.AtMobiles) > 0 || s.AtAll) {
		t := &Text{Content: truncate(title+" (details above)", maxTextBytes), MentionedMobileList: s.AtMobiles}
		if s.AtAll {
			t.MentionedList = []string{"@all"}
		}
		out = append(out, Payload{MsgType: "text", Text: t})
	}
	return out, nil
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r))+len("…") > n {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// pack groups blocks, in order, into at most maxParts parts that each fit. A block too big
// for a part of its own is shrunk. When blocks remain after the last part, the last part
// keeps only what fits beside an "and N more" line, and pack returns N.
func pack(blocks []string, maxParts int, fits func(part []string, first bool, more int) bool, shrink func(block string, first bool) string) ([][]string, int) {
	var parts [][]string
	var cur []string
	for i := 0; i < len(blocks); i++ {
		first := len(parts) == 0
		b := blocks[i]
		if fits(append(slices.Clip(cur), b), first, 0) {
			cur = append(cur, b)
			continue
		}
		if len(cur) == 0 {
			cur = append(cur, shrink(b, first))
			continue
		}
		if len(parts)+1 >= maxParts {
			more := len(blocks) - i
			for len(cur) > 0 && !fits(cur, first, more) {
				cur = cur[:len(cur)-1]
				more++
			}
			return append(parts, cur), more
		}
		parts = append(parts, cur)
		cur = nil
		i-- // b opens the next part
	}
	return append(parts, cur), 0
}

// shrinkBlock cuts a block that is too long for a message of its own, by whole lines where it
// can, and marks the cut with "…".
func shrinkBlock(b string, fits func(string) bool) string {
	lines := strings.Split(b, "\n")
	for n := len(lines) - 1; n > 0; n-- {
		if s := strings.Join(lines[:n], "\n") + "\n…"; fits(s) {
			return s
		}
	}
	r := []rune(lines[0])
	lo, hi := 0, len(r)
	for lo < hi { // the longest prefix of the first line that fits
		mid := (lo + hi + 1) / 2
		if fits(string(r[:mid]) + "…") {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo]) + "…"
}
