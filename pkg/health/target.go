package health

import (
	"hash/fnv"
	"strings"
)

// NodeType is the NodeType parameter of GetWhatsappHealthStatus: which node a query asks about.
type NodeType string

// The node types GetWhatsappHealthStatus accepts.
const (
	NodeWABA     NodeType = "waba"
	NodePhone    NodeType = "phone"
	NodeTemplate NodeType = "template"
)

// Target is one configured health query: a node and the identifiers CAMS needs for it.
type Target struct {
	NodeType     NodeType          `json:"nodeType"`
	CustSpaceID  string            `json:"custSpaceId"`
	WabaID       string            `json:"wabaId,omitempty"`
	PhoneNumber  string            `json:"phoneNumber,omitempty"`
	TemplateCode string            `json:"templateCode,omitempty"`
	Language     string            `json:"language,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// ID returns a stable identity for the target, used to remember which targets saw an entity.
func (t Target) ID() string {
	switch t.NodeType {
	case NodePhone:
		return "phone:" + t.CustSpaceID + ":" + NormalizePhone(t.PhoneNumber)
	case NodeTemplate:
		return "template:" + t.CustSpaceID + ":" + t.TemplateCode + ":" + t.Language
	case NodeWABA:
		return "waba:" + t.CustSpaceID + ":" + t.WabaID
	}
	return string(t.NodeType) + ":" + t.CustSpaceID
}

// NormalizePhone strips the characters people write around a phone number ("+", spaces,
// dashes, brackets) so that "+86 138-0000-0001" and "8613800000001" are one identity.
func NormalizePhone(p string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '+', ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, strings.TrimSpace(p))
}

// Identify sets e.ID from the identifiers of its row, falling back to those of the query that
// returned it, and records the query as a source. The rules:
//
//   - PHONE_NUMBER: the phone number (normalised);
//   - MESSAGE_TEMPLATE: template code ":" language;
//   - WABA: the WABA id;
//   - BUSINESS: the business id, else "waba/" + the WABA id;
//   - APP: the custSpaceId (the API returns no app id; an app is seen per customer space);
//   - unknown types: the most specific identifier present.
func Identify(e *Entity, t Target) {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&e.CustSpaceID, t.CustSpaceID)
	fill(&e.WabaID, t.WabaID)
	switch e.Type {
	case PhoneNumber:
		fill(&e.PhoneNumber, t.PhoneNumber)
		e.ID = NormalizePhone(e.PhoneNumber)
	case Template:
		fill(&e.TemplateCode, t.TemplateCode)
		fill(&e.Language, t.Language)
		e.ID = e.TemplateCode + ":" + e.Language
	case WABA:
		e.ID = e.WabaID
	case Business:
		if e.BusinessID != "" {
			e.ID = e.BusinessID
		} else {
			e.ID = "waba/" + e.WabaID
		}
	case App:
		e.ID = e.CustSpaceID
	default:
		switch {
		case e.PhoneNumber != "":
			e.ID = NormalizePhone(e.PhoneNumber)
		case e.TemplateCode != "" && e.Language != "":
			e.ID = e.TemplateCode + ":" + e.Language
		case e.TemplateCode != "":
			e.ID = e.TemplateCode
		case e.WabaID != "":
			e.ID = e.WabaID
		case e.BusinessID != "":
			e.ID = e.BusinessID
		default:
			e.ID = e.CustSpaceID
		}
	}
	if len(t.Labels) > 0 {
		if e.Labels == nil {
			e.Labels = make(map[string]string, len(t.Labels))
		}
		for k, v := range t.Labels {
			e.Labels[k] = v
		}
	}
	e.Sources = append(e.Sources, t.ID())
	e.Normalize()
}

// Shard returns the shard (1 to n) a target id falls in: a stable FNV-1a hash, so that the
// same target stays in the same shard as long as n does not change.
func Shard(targetID string, n int) int {
	if n <= 1 {
		return 1
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(targetID))
	return int(h.Sum32()%uint32(n)) + 1
}
