package dingtalk

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

// DefaultMaxBodyBytes bounds the JSON body of one request. DingTalk refuses bodies over 20,000
// bytes (errcode 460101, "message too long, exceed 20000 bytes"); the margin covers the
// robot's own accounting.
const DefaultMaxBodyBytes = 19000

// DefaultMaxParts is how many messages one alert may be split into; what does not fit is
// summarised as "and N more". It stays below the limiter's burst, so a split alert goes out
// at once.
const DefaultMaxParts = 8

// TemplateNames are the named templates a DingTalk template must define (see
// templates/dingtalk.tmpl).
var TemplateNames = []string{
	"dingtalk.title", "dingtalk.header", "dingtalk.intro", "dingtalk.alert",
	"dingtalk.failure", "dingtalk.entity", "dingtalk.footer",
}

// Settings are the DingTalk options that shape the messages (everything but where to send
// them).
type Settings struct {
	// Keyword is added to the title and the text when they lack it, for robots with keyword
	// security.
	Keyword string
	// AtMobiles, AtUserIDs and AtAll are mentioned in messages whose severity is in
	// AtSeverities.
	AtMobiles []string
	AtUserIDs []string
	AtAll     bool
	// AtSeverities are the severities that mention people (default: critical, when anyone is
	// to be mentioned).
	AtSeverities []health.Severity
	// MaxBodyBytes bounds the encoded JSON body of one request (default DefaultMaxBodyBytes).
	MaxBodyBytes int
	// MaxParts bounds how many requests one message becomes (default DefaultMaxParts).
	MaxParts int
}

// SettingsOf returns the message settings of a dingtalk notifier's configuration.
func SettingsOf(n config.Notifier) Settings {
	s := Settings{Keyword: n.Keyword, AtMobiles: n.AtMobiles, AtUserIDs: n.AtUserIDs, AtAll: n.AtAll}
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

// Payload is the JSON body of one request to a DingTalk custom robot.
type Payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown Markdown `json:"markdown"`
	At       *At      `json:"at,omitempty"`
}

// Markdown is a markdown message: the title shows in notifications and the chat list, the
// text in the chat.
type Markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// At says whom a message mentions. DingTalk only notifies a mobile or user id that the text
// also contains as "@<mobile>" or "@<userId>".
type At struct {
	AtMobiles []string `json:"atMobiles,omitempty"`
	AtUserIDs []string `json:"atUserIds,omitempty"`
	IsAtAll   bool     `json:"isAtAll"`
}

// Encode returns p as the exact bytes sent (HTML characters such as < and & are not escaped).
func (p Payload) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode dingtalk message: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// BuildRequests renders m with tpl into the bodies to send, in order: one markdown message,
// or several ("(2/3)" in the title) when the text would exceed s.MaxBodyBytes. Blocks (the
// alerts, failures, baseline entities) are never reordered; those beyond s.MaxParts messages
// are summarised as "and N more". Mentions go to the first message only, at the end of its
// text. It is a pure function: the signature and timestamp are added when sending.
func BuildRequests(m *notify.Message, tpl *template.Template, s Settings) ([]Payload, error) {
	exec := func(name string, data any) (string, error) {
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
			return "", fmt.Errorf("render %s: %w", name, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	title, err := exec("dingtalk.title", m)
	if err != nil {
		return nil, err
	}
	header, err := exec("dingtalk.header", m)
	if err != nil {
		return nil, err
	}
	footer, err := exec("dingtalk.footer", m)
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
	if err := add("dingtalk.intro", m); err != nil {
		return nil, err
	}
	for _, a := range m.Alerts {
		if err := add("dingtalk.alert", a); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Failures {
		if err := add("dingtalk.failure", f); err != nil {
			return nil, err
		}
	}
	if m.Baseline != nil {
		for _, e := range m.Baseline.NotAvailable {
			if err := add("dingtalk.entity", e); err != nil {
				return nil, err
			}
		}
	}

	maxBody := s.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	maxParts := s.MaxParts
	if maxParts <= 0 {
		maxParts = DefaultMaxParts
	}
	var at *At
	var mention string
	if s.mentions(m.Severity) {
		at = &At{AtMobiles: s.AtMobiles, AtUserIDs: s.AtUserIDs, IsAtAll: s.AtAll}
		var names []string
		for _, v := range s.AtMobiles {
			names = append(names, "@"+v)
		}
		for _, v := range s.AtUserIDs {
			names = append(names, "@"+v)
		}
		mention = strings.Join(names, " ")
	}
	withKeyword := func(text string) string {
		if s.Keyword == "" || strings.Contains(text, s.Keyword) {
			return text
		}
		return text + " · " + s.Keyword
	}
	// payload assembles part i of n; the marker is " (i/n)" when n > 1.
	payload := func(part []string, marker string, first bool, more int) Payload {
		h := header
		if marker != "" {
			line, rest, _ := strings.Cut(header, "\n")
			h = line + marker
			if rest != "" {
				h += "\n" + rest
			}
		}
		var b strings.Builder
		b.WriteString(h)
		for _, blk := range part {
			b.WriteString("\n\n")
			b.WriteString(blk)
		}
		if more > 0 {
			fmt.Fprintf(&b, "\n\n**… and %d more** not shown here (message size limit).", more)
		}
		b.WriteString("\n\n")
		b.WriteString(footer)
		text := b.String()
		if s.Keyword != "" && !strings.Contains(text, s.Keyword) {
			text += " · " + s.Keyword
		}
		p := Payload{MsgType: "markdown", Markdown: Markdown{Title: withKeyword(title + marker), Text: text}}
		if first && at != nil {
			if mention != "" {
				p.Markdown.Text += "\n\n" + mention
			}
			p.At = at
		}
		return p
	}
	size := func(p Payload) int {
		b, err := p.Encode()
		if err != nil {
			return maxBody + 1
		}
		return len(b)
	}
	// While packing, measure with the longest marker a split can carry.
	widest := fmt.Sprintf(" (%d/%d)", maxParts, maxParts)
	fits := func(part []string, first bool, more int) bool {
		return size(payload(part, widest, first, more)) <= maxBody
	}
	shrink := func(blk string, first bool) string {
		return shrinkBlock(blk, func(b string) bool { return fits([]string{b}, first, 0) })
	}
	parts, more := pack(blocks, maxParts, fits, shrink)
	out := make([]Payload, len(parts))
	for i, part := range parts {
		marker := ""
		if len(parts) > 1 {
			marker = fmt.Sprintf(" (%d/%d)", i+1, len(parts))
		}
		n := 0
		if i == len(parts)-1 {
			n = more
		}
		out[i] = payload(part, marker, i == 0, n)
		if sz := size(out[i]); sz > maxBody {
			return nil, fmt.Errorf("dingtalk message part %d is %d bytes, over the %d-byte limit even without blocks: shorten the header and footer templates", i+1, sz, maxBody)
		}
	}
	return out, nil
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
