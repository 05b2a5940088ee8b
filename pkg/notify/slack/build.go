package slack

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// Slack's limits on one message.
const (
	// MaxBlocks is the most blocks one message may carry.
	MaxBlocks = 50
	// MaxSectionText is the most characters of a section's (and a context element's) text.
	MaxSectionText = 3000
	// MaxHeaderText is the most characters of a header block's text.
	MaxHeaderText = 150
	// MaxMessageText bounds the text of all blocks of one message together. Slack documents
	// no such limit but answers msg_blocks_too_long from about 13,200 characters on; wahealth
	// splits messages before that.
	MaxMessageText = 12000
)

// The named templates BuildMessages executes; templates/slack.tmpl defines them all.
const (
	tmplHeader   = "slack.header"
	tmplAlert    = "slack.alert"
	tmplFailure  = "slack.failure"
	tmplBaseline = "slack.baseline"
	tmplEntity   = "slack.entity"
	tmplContext  = "slack.context"
	tmplText     = "slack.text"
)

// Templates are the names of the templates a Slack template file must define.
var Templates = []string{tmplHeader, tmplAlert, tmplFailure, tmplBaseline, tmplEntity, tmplContext, tmplText}

// Payload is one Slack message as wahealth sends it: the fallback text (shown in
// notifications and by clients without Block Kit) and the Block Kit blocks.
type Payload struct {
	// Text is the fallback text.
	Text string `json:"text"`
	// Blocks are the header, the sections and the context line.
	Blocks []slack.Block `json:"blocks"`
}

// section is one section block's text, and whether it counts towards "…and N more".
type section struct {
	text    string
	counted bool
}

// BuildMessages turns m into the Slack messages to send, in order: usually one; more when m
// has more sections than one message may carry (then every message but the last ends with
// "…and N more" and every header carries "(i/n)"). It is pure: the same m and tpl give the
// same messages.
func BuildMessages(m *notify.Message, tpl *template.Template) ([]Payload, error) {
	if tpl == nil {
		return nil, errors.New("no slack template")
	}
	esc := escapeMessage(m)

	header, err := execute(tpl, tmplHeader, m)
	if err != nil {
		return nil, err
	}
	header = oneLine(header)
	if header == "" {
		header = m.Title()
	}
	text, err := execute(tpl, tmplText, esc)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		text = escape(m.Title())
	}
	if m.Kind == notify.KindTest {
		header, text = markTest(header), markTest(text)
	}
	context, err := execute(tpl, tmplContext, esc)
	if err != nil {
		return nil, err
	}

	var sections []section
	add := func(name string, data any, counted bool) error {
		s, err := execute(tpl, name, data)
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s != "" {
			sections = append(sections, section{text: truncate(s, MaxSectionText), counted: counted})
		}
		return nil
	}
	if esc.Baseline != nil {
		if err := add(tmplBaseline, esc.Baseline, false); err != nil {
			return nil, err
		}
		for _, e := range esc.Baseline.NotAvailable {
			if err := add(tmplEntity, e, true); err != nil {
				return nil, err
			}
		}
	}
	for _, a := range esc.Alerts {
		if err := add(tmplAlert, a, true); err != nil {
			return nil, err
		}
	}
	for _, f := range esc.Failures {
		if err := add(tmplFailure, f, true); err != nil {
			return nil, err
		}
	}

	context = truncate(strings.TrimSpace(context), MaxSectionText)
	chunks := split(sections, textLen(header)+len(" (99/99)")+textLen(context))
	out := make([]Payload, 0, len(chunks))
	for i, c := range chunks {
		h, t := header, text
		if len(chunks) > 1 {
			suffix := fmt.Sprintf(" (%d/%d)", i+1, len(chunks))
			h = truncate(h, MaxHeaderText-textLen(suffix)) + suffix
			t += suffix
		}
		blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(h, MaxHeaderText), true, false))}
		for _, s := range sections[c.from:c.to] {
			blocks = append(blocks, mrkdwnSection(s.text))
		}
		if i < len(chunks)-1 {
			more := 0
			for _, s := range sections[c.to:] {
				if s.counted {
					more++
				}
			}
			blocks = append(blocks, mrkdwnSection(moreText(more, i+2, len(chunks))))
		}
		if context != "" {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, context, false, false)))
		}
		out = append(out, Payload{Text: t, Blocks: blocks})
	}
	return out, nil
}

func mrkdwnSection(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// moreText ends a message whose remaining sections follow in message next of total.
func moreText(more, next, total int) string {
	if more == 0 {
		return fmt.Sprintf("_…continued in message %d/%d._", next, total)
	}
	return fmt.Sprintf("_…and %d more, continued in message %d/%d._", more, next, total)
}

// chunk is the range of sections one message carries.
type chunk struct{ from, to int }

// split packs sections into messages in order: at most MaxBlocks blocks each (a header, the
// sections, an "…and N more" section on all but the last, a context line) and at most
// MaxMessageText characters of text. fixed is the text every message carries anyway.
func split(sections []section, fixed int) []chunk {
	const (
		lastMax = MaxBlocks - 2 // header and context
		someMax = MaxBlocks - 3 // and "…and N more"
	)
	moreLen := textLen(moreText(99999, 99, 99))
	var out []chunk
	start := 0
	for {
		end, size := start, fixed
		for end < len(sections) && end-start < lastMax && size+textLen(sections[end].text) <= MaxMessageText {
			size += textLen(sections[end].text)
			end++
		}
		if end == len(sections) {
			return append(out, chunk{start, end})
		}
		// Not the last message: leave room for "…and N more".
		for end-start > someMax || (end-start > 1 && size+moreLen > MaxMessageText) {
			end--
			size -= textLen(sections[end].text)
		}
		if end == start { // one section always fits: MaxSectionText is far below MaxMessageText
			end++
		}
		out = append(out, chunk{start, end})
		start = end
	}
}

// execute runs the named template on data.
func execute(tpl *template.Template, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// markTest makes sure a test message says so.
func markTest(s string) string {
	if strings.Contains(s, "[TEST]") {
		return s
	}
	return "[TEST] " + s
}

// oneLine joins a header's lines: header blocks are one line of plain text.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// textLen counts characters as Slack may: in UTF-16 code units, so an emoji counts twice.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// truncate cuts s to at most limit characters (as textLen counts them), ending with "…", and
// never in the middle of a character or of an escaped &amp; &lt; &gt;.
func truncate(s string, limit int) string {
	if textLen(s) <= limit {
		return s
	}
	budget := limit - 1 // the ellipsis
	n, cut := 0, 0
	for i, r := range s {
		if n+utf16.RuneLen(r) > budget {
			break
		}
		n += utf16.RuneLen(r)
		cut = i + utf8.RuneLen(r)
	}
	out := s[:cut]
	if amp := strings.LastIndexByte(out, '&'); amp >= 0 && amp >= len(out)-4 && !strings.Contains(out[amp:], ";") {
		out = out[:amp]
	}
	return strings.TrimRightFunc(out, func(r rune) bool { return r == ' ' || r == '\n' }) + "…"
}

// escaper escapes the three characters Slack's mrkdwn gives a meaning (links, mentions).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// escapeMessage returns a copy of m with every string that came from CAMS, Meta or the
// configuration escaped for mrkdwn. m is not modified.
func escapeMessage(m *notify.Message) *notify.Message {
	out := *m
	out.CycleID = escape(m.CycleID)
	out.Alerts = make([]notify.Alert, len(m.Alerts))
	for i, a := range m.Alerts {
		out.Alerts[i] = a // every field: Reminder, Since, For, and fields added later
		out.Alerts[i].Entity = escapeEntity(a.Entity)
		out.Alerts[i].Changes = make([]health.Change, len(a.Changes))
		for j, c := range a.Changes {
			out.Alerts[i].Changes[j] = escapeChange(c)
		}
	}
	out.Failures = make([]notify.Failure, len(m.Failures))
	for i, f := range m.Failures {
		f.Target = escapeTarget(f.Target)
		f.Error = escape(f.Error)
		out.Failures[i] = f
	}
	if m.Baseline != nil {
		b := *m.Baseline
		b.NotAvailable = make([]health.Entity, len(m.Baseline.NotAvailable))
		for i, e := range m.Baseline.NotAvailable {
			b.NotAvailable[i] = escapeEntity(e)
		}
		out.Baseline = &b
	}
	return &out
}

func escapeEntity(e health.Entity) health.Entity {
	e.Type = health.EntityType(escape(string(e.Type)))
	e.ID = escape(e.ID)
	e.CanSendMessage = health.Status(escape(string(e.CanSendMessage)))
	e.Errors = escapeErrors(e.Errors)
	e.CustSpaceID = escape(e.CustSpaceID)
	e.WabaID = escape(e.WabaID)
	e.BusinessID = escape(e.BusinessID)
	e.PhoneNumber = escape(e.PhoneNumber)
	e.TemplateCode = escape(e.TemplateCode)
	e.Language = escape(e.Language)
	e.Labels = escapeLabels(e.Labels)
	if e.Sources != nil {
		src := make([]string, len(e.Sources))
		for i, s := range e.Sources {
			src[i] = escape(s)
		}
		e.Sources = src
	}
	return e
}

func escapeErrors(errs []health.Error) []health.Error {
	if errs == nil {
		return nil
	}
	out := make([]health.Error, len(errs))
	for i, x := range errs {
		out[i] = escapeError(x)
	}
	return out
}

func escapeError(x health.Error) health.Error {
	return health.Error{Code: escape(x.Code), Description: escape(x.Description), Solution: escape(x.Solution)}
}

func escapeChange(c health.Change) health.Change {
	c.Entity = health.Key{Type: health.EntityType(escape(string(c.Entity.Type))), ID: escape(c.Entity.ID)}
	c.From = health.Status(escape(string(c.From)))
	c.To = health.Status(escape(string(c.To)))
	c.ErrorCode = escape(c.ErrorCode)
	if c.Error != nil {
		x := escapeError(*c.Error)
		c.Error = &x
	}
	return c
}

func escapeTarget(t health.Target) health.Target {
	t.NodeType = health.NodeType(escape(string(t.NodeType)))
	t.CustSpaceID = escape(t.CustSpaceID)
	t.WabaID = escape(t.WabaID)
	t.PhoneNumber = escape(t.PhoneNumber)
	t.TemplateCode = escape(t.TemplateCode)
	t.Language = escape(t.Language)
	t.Labels = escapeLabels(t.Labels)
	return t
}

func escapeLabels(l map[string]string) map[string]string {
	if l == nil {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[escape(k)] = escape(v)
	}
	return out
}
