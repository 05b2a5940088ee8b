// Package health holds wahealth's domain: the identity of a WhatsApp entity (a phone number, a
// template, a WABA, a business portfolio, an app), its messaging status as Meta reports it, a
// snapshot of every entity seen in one check cycle, and the pure diff between two snapshots.
//
// Nothing here does I/O. The CAMS client turns API answers into entities, the state store keeps
// snapshots, and the monitor feeds two snapshots to Diff.
package health

import (
	"slices"
	"strings"
)

// EntityType is Meta's entity_type of a health row. Values other than the constants below are
// kept verbatim: an unknown type is shown, never dropped.
type EntityType string

// The entity types Meta documents for health_status.
const (
	PhoneNumber EntityType = "PHONE_NUMBER"
	Template    EntityType = "MESSAGE_TEMPLATE"
	WABA        EntityType = "WABA"
	Business    EntityType = "BUSINESS"
	App         EntityType = "APP"
)

// Known reports whether t is one of the documented entity types.
func (t EntityType) Known() bool {
	switch t {
	case PhoneNumber, Template, WABA, Business, App:
		return true
	}
	return false
}

// Status is Meta's can_send_message value. Values other than the constants below are kept
// verbatim and treated as degraded (see Rank).
type Status string

// The documented values of can_send_message.
const (
	Available Status = "AVAILABLE"
	Limited   Status = "LIMITED"
	Blocked   Status = "BLOCKED"
)

// Known reports whether s is one of the documented statuses.
func (s Status) Known() bool { return s == Available || s == Limited || s == Blocked }

// Rank orders statuses from best to worst: AVAILABLE 0, an unknown value 1, LIMITED 2,
// BLOCKED 3. An empty status (no value reported) ranks as unknown.
func (s Status) Rank() int {
	switch s {
	case Available:
		return 0
	case Limited:
		return 2
	case Blocked:
		return 3
	}
	return 1
}

// OK reports whether s means the entity can send messages without limitation.
func (s Status) OK() bool { return s == Available }

// Worse returns the worse of a and b (a when they rank the same).
func Worse(a, b Status) Status {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Key is an entity's identity: its type and its natural id. The same WABA row seen through two
// phone-number queries has one Key, so it is one entity and one change.
type Key struct {
	Type EntityType `json:"type"`
	ID   string     `json:"id"`
}

// String renders k as TYPE:id.
func (k Key) String() string { return string(k.Type) + ":" + k.ID }

// Compare orders keys by type, then id.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(string(k.Type), string(o.Type)); c != 0 {
		return c
	}
	return strings.Compare(k.ID, o.ID)
}

// Error is one entry of an entity's errors array, as Meta gives it.
type Error struct {
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
	Solution    string `json:"solution,omitempty"`
}

// Entity is the last known health of one entity.
type Entity struct {
	Type           EntityType `json:"type"`
	ID             string     `json:"id"`
	CanSendMessage Status     `json:"canSendMessage"`
	// Errors are sorted by code, one entry per code.
	Errors []Error `json:"errors,omitempty"`

	// The identifiers Meta returned with the row, kept for display and grouping.
	CustSpaceID  string `json:"custSpaceId,omitempty"`
	WabaID       string `json:"wabaId,omitempty"`
	BusinessID   string `json:"businessId,omitempty"`
	PhoneNumber  string `json:"phoneNumber,omitempty"`
	TemplateCode string `json:"templateCode,omitempty"`
	Language     string `json:"language,omitempty"`

	// Labels is the union of the labels of the targets whose queries returned this entity.
	Labels map[string]string `json:"labels,omitempty"`
	// Sources are the ids of the targets whose queries returned this entity, sorted.
	Sources []string `json:"sources,omitempty"`
}

// Key returns e's identity.
func (e *Entity) Key() Key { return Key{Type: e.Type, ID: e.ID} }

// ErrorCodes returns the codes of e's errors, in order.
func (e *Entity) ErrorCodes() []string {
	out := make([]string, len(e.Errors))
	for i, x := range e.Errors {
		out[i] = x.Code
	}
	return out
}

// HasError reports whether e carries the error code.
func (e *Entity) HasError(code string) bool {
	_, ok := slices.BinarySearchFunc(e.Errors, code, func(x Error, c string) int { return strings.Compare(x.Code, c) })
	return ok
}

// Merge folds another observation of the same entity into e: the worse status wins, errors,
// labels and sources are united, and empty identifiers are filled in.
func (e *Entity) Merge(o Entity) {
	e.CanSendMessage = Worse(e.CanSendMessage, o.CanSendMessage)
	for _, x := range o.Errors {
		if !e.HasError(x.Code) {
			e.Errors = append(e.Errors, x)
			sortErrors(e.Errors)
		}
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&e.CustSpaceID, o.CustSpaceID)
	fill(&e.WabaID, o.WabaID)
	fill(&e.BusinessID, o.BusinessID)
	fill(&e.PhoneNumber, o.PhoneNumber)
	fill(&e.TemplateCode, o.TemplateCode)
	fill(&e.Language, o.Language)
	for k, v := range o.Labels {
		if e.Labels == nil {
			e.Labels = map[string]string{}
		}
		if _, ok := e.Labels[k]; !ok {
			e.Labels[k] = v
		}
	}
	for _, s := range o.Sources {
		if i, ok := slices.BinarySearch(e.Sources, s); !ok {
			e.Sources = slices.Insert(e.Sources, i, s)
		}
	}
}

// Normalize sorts and de-duplicates e's errors and sources so that equal entities compare equal.
func (e *Entity) Normalize() {
	sortErrors(e.Errors)
	e.Errors = slices.CompactFunc(e.Errors, func(a, b Error) bool { return a.Code == b.Code })
	slices.Sort(e.Sources)
	e.Sources = slices.Compact(e.Sources)
	if len(e.Errors) == 0 {
		e.Errors = nil
	}
}

func sortErrors(errs []Error) {
	slices.SortStableFunc(errs, func(a, b Error) int { return strings.Compare(a.Code, b.Code) })
}
