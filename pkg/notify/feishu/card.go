package feishu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// MaxBodyBytes is Feishu's limit on one request body ("请求体的数据大小不能超过 20 KB"), read as
// the smaller 20,000 bytes. Every body BuildRequests returns stays under it once signed.
const MaxBodyBytes = 20_000

// MaxParts bounds how many messages one alert is split into. What does not fit is summarised
// as "… and N more" at the end of the last part: the bot allows 100 messages a minute, and a
// phone should not buzz dozens of times for one cycle.
const MaxParts = 10

// Templates are the named templates a Feishu template file must define. Each renders one piece
// of the card: "title" the header (notify.Message), "alert" one alert's block (AlertData),
// "failure" one check failure's block (notify.Failure), "baseline" the summary of a first
// cycle or a digest (notify.Message), "entity" one entity of that summary that cannot send
// (health.Entity), "test" the introduction of a test message (notify.Message) and "footer" the
// note closing every part (notify.Message). The root template is not used for the card
// (LoadTemplate checks that it renders).
var Templates = []string{"title", "alert", "failure", "baseline", "entity", "test", "footer"}

const (
	// signReserve is room kept in every body for the "timestamp" and "sign" fields added at
	// sending time: `,"timestamp":"1234567890","sign":"<44 base64 characters>"` is 79 bytes.
	signReserve = 96
	// suffixReserve is room for the " (10/10)" a split message's title gets.
	suffixReserve = 16
	// budget is what the rest of a body may take.
	budget = MaxBodyBytes - signReserve - suffixReserve
)

// AlertData is what the "alert" template receives: the alert's fields, and the message it
// belongs to (Message.Time is "now" for durations such as "still BLOCKED for 5h 10m").
type AlertData struct {
	notify.Alert
	// Message is the whole message.
	Message *notify.Message
}

// Payload is the JSON body of one request to a custom bot: an interactive card. Timestamp and
// Sign are set when sending, and only when the bot has a signing secret.
type Payload struct {
	// Timestamp is the signing time in Unix seconds, as a string.
	Timestamp string `json:"timestamp,omitempty"`
	// Sign is Sign(secret, timestamp).
	Sign string `json:"sign,omitempty"`
	// MsgType is always "interactive".
	MsgType string `json:"msg_type"`
	// Card is the message card.
	Card Card `json:"card"`
}

// Card is a Feishu message card (the JSON 1.0 card structure, which custom bots accept).
type Card struct {
	// Config sets the card's display options.
	Config CardConfig `json:"config"`
	// Header is the coloured title bar.
	Header Header `json:"header"`
	// Elements are the card's body: lark_md text blocks, dividers and a closing note.
	Elements []Element `json:"elements"`
}

// CardConfig holds a card's display options.
type CardConfig struct {
	// WideScreenMode lets the card use the whole width on desktop clients.
	WideScreenMode bool `json:"wide_screen_mode"`
	// EnableForward lets people forward the card to another chat.
	EnableForward bool `json:"enable_forward"`
}

// Header is a card's title bar.
type Header struct {
	// Title is the header text (plain_text).
	Title Text `json:"title"`
	// Template is the header colour: red, orange, green, grey or blue.
	Template string `json:"template"`
}

// Text is a text object: Tag is plain_text or lark_md (Feishu's markdown subset).
type Text struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// Element is one card element: a "div" with Text, an "hr" divider, or a "note" with Elements.
type Element struct {
	Tag      string `json:"tag"`
	Text     *Text  `json:"text,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Colour returns the header colour of a message: red for critical, orange for warning, green
// for resolved, grey for info, and blue for a test message, so that a sample is never taken
// for a real alert.
func Colour(m *notify.Message) string {
	if m.Kind == notify.KindTest {
		return "blue"
	}
	switch m.Severity {
	case health.Critical:
		return "red"
	case health.Warning:
		return "orange"
	case health.Resolved:
		return "green"
	}
	return "grey"
}

// BuildRequests renders m with tpl (see Templates) into the card bodies to send, in order: one,
// or several when the 20 KB body limit demands, each titled "(i/n)" and each complete (header,
// colour, note). The keyword, when set, is added to every part's note, so that bots with
// keyword security accept each of them. Blocks are never split: one block larger than a
// message is cut short. Parts beyond MaxParts are summarised as "… and N more". BuildRequests
// is pure; the bodies are unsigned.
func BuildRequests(m *notify.Message, tpl *template.Template, keyword string) ([]Payload, error) {
	title, err := render(tpl, "title", m)
	if err != nil {
		return nil, err
	}
	title = oneLine(title)
	if title == "" {
		title = m.Title()
	}
	title = cut(title, 200)
	footer, err := render(tpl, "footer", m)
	if err != nil {
		return nil, err
	}
	footer = strings.TrimSpace(footer)
	if keyword != "" && !strings.Contains(footer, keyword) && !strings.Contains(title, keyword) {
		if footer != "" {
			footer += " · "
		}
		footer += keyword
	}

	var intro []string
	var items []string
	add := func(dst *[]string, name string, data any) error {
		s, err := render(tpl, name, data)
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s != "" {
			*dst = append(*dst, s)
		}
		return nil
	}
	switch m.Kind {
	case notify.KindTest:
		err = add(&intro, "test", m)
	case notify.KindBaseline, notify.KindDigest:
		if m.Baseline != nil {
			err = add(&intro, "baseline", m)
			for _, e := range m.Baseline.NotAvailable {
				if err == nil {
					err = add(&items, "entity", e)
				}
			}
		}
	}
	for _, a := range m.Alerts {
		if err == nil {
			err = add(&items, "alert", AlertData{Alert: a, Message: m})
		}
	}
	for _, f := range m.Failures {
		if err == nil {
			err = add(&items, "failure", f)
		}
	}
	if err != nil {
		return nil, err
	}
	p := packer{title: title, colour: Colour(m), footer: footer}
	return p.pack(intro, items)
}

// block is one lark_md text block; item is false for introductions, which are never counted
// in "and N more".
type block struct {
	text string
	item bool
}

type part struct {
	blocks []block
	size   int
}

type packer struct {
	title, colour, footer string
	base                  int // the encoded size of a part without blocks
}

func (p *packer) payload(title string, blocks []block) Payload {
	els := make([]Element, 0, 2*len(blocks)+1)
	for i, b := range blocks {
		if i > 0 {
			els = append(els, Element{Tag: "hr"})
		}
		els = append(els, div(b.text))
	}
	if p.footer != "" {
		els = append(els, Element{Tag: "note", Elements: []Text{{Tag: "plain_text", Content: p.footer}}})
	}
	return Payload{
		MsgType: "interactive",
		Card: Card{
			Config:   CardConfig{WideScreenMode: true, EnableForward: true},
			Header:   Header{Title: Text{Tag: "plain_text", Content: title}, Template: p.colour},
			Elements: els,
		},
	}
}

func div(s string) Element { return Element{Tag: "div", Text: &Text{Tag: "lark_md", Content: s}} }

// hrCost is what a divider and its comma add to a body.
var hrCost = len(`{"tag":"hr"},`)

func (p *packer) pack(intro, items []string) ([]Payload, error) {
	base, err := encode(p.payload(p.title, nil))
	if err != nil {
		return nil, err
	}
	p.base = len(base)
	var blocks []block
	for _, s := range intro {
		blocks = append(blocks, block{text: s})
	}
	for _, s := range items {
		blocks = append(blocks, block{text: s, item: true})
	}
	var parts []part
	cur := part{size: p.base}
	for _, b := range blocks {
		b.text = p.fit(b.text)
		cost, err := p.cost(b.text)
		if err != nil {
			return nil, err
		}
		if len(cur.blocks) > 0 {
			cost += hrCost
		}
		if len(cur.blocks) > 0 && cur.size+cost > budget {
			parts = append(parts, cur)
			cur = part{size: p.base}
			cost -= hrCost
		}
		cur.blocks = append(cur.blocks, b)
		cur.size += cost
	}
	parts = append(parts, cur)
	if len(parts) > MaxParts {
		if parts, err = p.cap(parts); err != nil {
			return nil, err
		}
	}
	out := make([]Payload, len(parts))
	for i, pt := range parts {
		title := p.title
		if len(parts) > 1 {
			title = fmt.Sprintf("%s (%d/%d)", title, i+1, len(parts))
		}
		out[i] = p.payload(title, pt.blocks)
		body, err := encode(out[i])
		if err != nil {
			return nil, err
		}
		if len(body)+signReserve > MaxBodyBytes {
			return nil, fmt.Errorf("feishu card part %d is %d bytes, over the %d-byte limit", i+1, len(body), MaxBodyBytes-signReserve)
		}
	}
	return out, nil
}

// cap keeps the first MaxParts parts and ends the last one with "… and N more".
func (p *packer) cap(parts []part) ([]part, error) {
	omitted := 0
	for _, pt := range parts[MaxParts:] {
		for _, b := range pt.blocks {
			if b.item {
				omitted++
			}
		}
	}
	parts = parts[:MaxParts]
	last := &parts[MaxParts-1]
	for {
		more := block{text: fmt.Sprintf("… and %d more not shown here: a Feishu message is limited in size. The cycle report (checker -json) lists everything.", omitted)}
		cost, err := p.cost(more.text)
		if err != nil {
			return nil, err
		}
		if last.size+cost+hrCost <= budget || len(last.blocks) == 0 {
			last.blocks = append(last.blocks, more)
			last.size += cost + hrCost
			return parts, nil
		}
		dropped := last.blocks[len(last.blocks)-1]
		last.blocks = last.blocks[:len(last.blocks)-1]
		c, err := p.cost(dropped.text)
		if err != nil {
			return nil, err
		}
		last.size -= c + hrCost
		if dropped.item {
			omitted++
		}
	}
}

// cost is what a div with text s and its comma add to a body.
func (p *packer) cost(s string) (int, error) {
	b, err := encode(div(s))
	if err != nil {
		return 0, err
	}
	return len(b) + 1, nil
}

// fit cuts a block that would not fit in a part of its own.
func (p *packer) fit(s string) string {
	fits := func(s string) bool {
		c, err := p.cost(s)
		return err == nil && p.base+c <= budget
	}
	if fits(s) {
		return s
	}
	const marker = "\n… (cut: too long for one Feishu message)"
	r := []rune(s)
	lo, hi := 0, len(r) // the longest prefix that fits is in [lo, hi)
	for lo < hi-1 {
		mid := (lo + hi) / 2
		if fits(string(r[:mid]) + marker) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return string(r[:lo]) + marker
}

// render executes the named template.
func render(tpl *template.Template, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render feishu template %q: %w", name, err)
	}
	return b.String(), nil
}

// encode is JSON without HTML escaping (the body size counts, and "<" is not special here).
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode feishu card: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
