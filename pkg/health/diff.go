package health

import (
	"maps"
	"slices"
)

// ChangeKind says what changed about an entity between two snapshots.
type ChangeKind string

// The kinds of change Diff reports.
const (
	// StatusChanged: can_send_message moved, in either direction.
	StatusChanged ChangeKind = "status"
	// ErrorAdded: an error code appeared on the entity.
	ErrorAdded ChangeKind = "error_added"
	// ErrorCleared: an error code the entity carried is gone.
	ErrorCleared ChangeKind = "error_cleared"
	// EntityAdded: the entity was not in the previous snapshot.
	EntityAdded ChangeKind = "entity_added"
	// EntityRemoved: a query that used to return the entity succeeded without it.
	EntityRemoved ChangeKind = "entity_removed"
)

// Change is one difference between two snapshots.
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Entity Key        `json:"entity"`
	// From and To are the statuses before and after, for status changes (To alone for an added
	// entity, From alone for a removed one).
	From Status `json:"from,omitempty"`
	To   Status `json:"to,omitempty"`
	// ErrorCode and Error describe the error, for error_added and error_cleared.
	ErrorCode string `json:"errorCode,omitempty"`
	Error     *Error `json:"error,omitempty"`
}

// Recovery reports whether c is good news: a status that got better, or an error that cleared.
func (c Change) Recovery() bool {
	switch c.Kind {
	case StatusChanged:
		return c.To.Rank() < c.From.Rank()
	case ErrorCleared:
		return true
	}
	return false
}

// Diff compares two snapshots and returns every change, ordered by entity key and then by kind
// (status, errors added, errors cleared). prev may be nil or empty: then every entity of next is
// added. Diff is pure: it neither reads nor modifies anything but its arguments.
func Diff(prev, next *Snapshot) []Change {
	var changes []Change
	var prevEntities, nextEntities map[Key]*Entity
	if prev != nil {
		prevEntities = prev.Entities
	}
	if next != nil {
		nextEntities = next.Entities
	}
	for k, n := range nextEntities {
		p, ok := prevEntities[k]
		if !ok {
			changes = append(changes, Change{Kind: EntityAdded, Entity: k, To: n.CanSendMessage})
			for i := range n.Errors {
				e := n.Errors[i]
				changes = append(changes, Change{Kind: ErrorAdded, Entity: k, ErrorCode: e.Code, Error: &e})
			}
			continue
		}
		changes = appendEntityDiff(changes, k, p, n)
	}
	for k, p := range prevEntities {
		if _, ok := nextEntities[k]; !ok {
			changes = append(changes, Change{Kind: EntityRemoved, Entity: k, From: p.CanSendMessage})
		}
	}
	slices.SortStableFunc(changes, compareChanges)
	return changes
}

func appendEntityDiff(changes []Change, k Key, p, n *Entity) []Change {
	if p.CanSendMessage != n.CanSendMessage {
		changes = append(changes, Change{Kind: StatusChanged, Entity: k, From: p.CanSendMessage, To: n.CanSendMessage})
	}
	// Both error lists are sorted by code: walk them together.
	i, j := 0, 0
	for i < len(p.Errors) || j < len(n.Errors) {
		switch {
		case j == len(n.Errors) || (i < len(p.Errors) && p.Errors[i].Code < n.Errors[j].Code):
			e := p.Errors[i]
			changes = append(changes, Change{Kind: ErrorCleared, Entity: k, ErrorCode: e.Code, Error: &e})
			i++
		case i == len(p.Errors) || n.Errors[j].Code < p.Errors[i].Code:
			e := n.Errors[j]
			changes = append(changes, Change{Kind: ErrorAdded, Entity: k, ErrorCode: e.Code, Error: &e})
			j++
		default:
			i++
			j++
		}
	}
	return changes
}

var kindOrder = map[ChangeKind]int{EntityAdded: 0, StatusChanged: 1, ErrorAdded: 2, ErrorCleared: 3, EntityRemoved: 4}

func compareChanges(a, b Change) int {
	if c := a.Entity.Compare(b.Entity); c != 0 {
		return c
	}
	if c := kindOrder[a.Kind] - kindOrder[b.Kind]; c != 0 {
		return c
	}
	switch {
	case a.ErrorCode < b.ErrorCode:
		return -1
	case a.ErrorCode > b.ErrorCode:
		return 1
	}
	return 0
}

// NotAvailable returns the entities of s that are not AVAILABLE, ordered by key.
func (s *Snapshot) NotAvailable() []*Entity {
	if s == nil {
		return nil
	}
	var out []*Entity
	for _, k := range slices.SortedFunc(maps.Keys(s.Entities), Key.Compare) {
		if e := s.Entities[k]; !e.CanSendMessage.OK() {
			out = append(out, e)
		}
	}
	return out
}
