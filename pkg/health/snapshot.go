package health

import (
	"encoding/json"
	"maps"
	"slices"
)

// Snapshot is the health of every entity known at the end of a cycle, keyed by identity.
type Snapshot struct {
	Entities map[Key]*Entity
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{Entities: map[Key]*Entity{}} }

// Len returns the number of entities.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Entities)
}

// Get returns the entity with key k, or nil.
func (s *Snapshot) Get(k Key) *Entity {
	if s == nil {
		return nil
	}
	return s.Entities[k]
}

// Add records an observation. A second observation of the same entity in one cycle (a WABA row
// returned by two phone queries) is merged into the first.
func (s *Snapshot) Add(e Entity) {
	if s.Entities == nil {
		s.Entities = map[Key]*Entity{}
	}
	e.Normalize()
	if cur, ok := s.Entities[e.Key()]; ok {
		cur.Merge(e)
		return
	}
	s.Entities[e.Key()] = &e
}

// Sorted returns the entities ordered by key.
func (s *Snapshot) Sorted() []*Entity {
	if s == nil {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(s.Entities), Key.Compare)
	out := make([]*Entity, len(keys))
	for i, k := range keys {
		out[i] = s.Entities[k]
	}
	return out
}

// Clone returns a deep copy of s.
func (s *Snapshot) Clone() *Snapshot {
	out := NewSnapshot()
	if s == nil {
		return out
	}
	for k, e := range s.Entities {
		c := *e
		c.Errors = slices.Clone(e.Errors)
		c.Sources = slices.Clone(e.Sources)
		c.Labels = maps.Clone(e.Labels)
		out.Entities[k] = &c
	}
	return out
}

// CarryOver copies into s every entity of prev that s lacks and that no successfully checked
// target could have returned this cycle: its sources all failed, or were not part of the cycle.
// That is how a failed fetch changes nothing: its entities keep their previous state rather than
// appearing removed. checked reports whether a target id was checked successfully this cycle.
// CarryOver returns the number of entities carried.
func (s *Snapshot) CarryOver(prev *Snapshot, checked func(targetID string) bool) int {
	if prev == nil {
		return 0
	}
	n := 0
	for k, e := range prev.Entities {
		if _, ok := s.Entities[k]; ok {
			continue
		}
		seen := false
		for _, src := range e.Sources {
			if checked(src) {
				seen = true
				break
			}
		}
		if seen {
			continue // a query that returned it before succeeded without it: it is gone
		}
		c := *e
		c.Errors = slices.Clone(e.Errors)
		c.Sources = slices.Clone(e.Sources)
		c.Labels = maps.Clone(e.Labels)
		if s.Entities == nil {
			s.Entities = map[Key]*Entity{}
		}
		s.Entities[k] = &c
		n++
	}
	return n
}

// MarshalJSON encodes the snapshot as an array of entities ordered by key.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	list := s.Sorted()
	if list == nil {
		list = []*Entity{}
	}
	return json.Marshal(list)
}

// UnmarshalJSON decodes an array of entities.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var list []Entity
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	s.Entities = make(map[Key]*Entity, len(list))
	for _, e := range list {
		s.Add(e)
	}
	return nil
}
