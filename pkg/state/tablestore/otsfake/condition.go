package otsfake

import (
	"bytes"
	"cmp"
	"fmt"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// maxConditionLeaves bounds the single-column conditions of one composite condition, as
// Tablestore does (its documentation gives 10 for the SDKs' column conditions).
const maxConditionLeaves = 10

// filter is a decoded column condition.
type filter struct {
	// single
	column          string
	comparator      otsprotocol.ComparatorType
	value           any
	filterIfMissing bool
	// composite
	op   otsprotocol.LogicalOperator
	subs []*filter
}

// parseFilter decodes a serialized otsprotocol.Filter (a Condition's column_condition).
func parseFilter(b []byte) (*filter, error) {
	leaves := 0
	return parseFilterDepth(b, 0, &leaves)
}

func parseFilterDepth(b []byte, depth int, leaves *int) (*filter, error) {
	if depth > 8 {
		return nil, fmt.Errorf("column condition nested too deep")
	}
	var pf otsprotocol.Filter
	if err := proto.Unmarshal(b, &pf); err != nil {
		return nil, fmt.Errorf("column condition: %v", err)
	}
	switch pf.GetType() {
	case otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE:
		var s otsprotocol.SingleColumnValueFilter
		if err := proto.Unmarshal(pf.GetFilter(), &s); err != nil {
			return nil, fmt.Errorf("single column condition: %v", err)
		}
		if s.ValueTransRule != nil {
			return nil, fmt.Errorf("otsfake does not implement value_trans_rule")
		}
		if s.GetComparator() < otsprotocol.ComparatorType_CT_EQUAL || s.GetComparator() > otsprotocol.ComparatorType_CT_LESS_EQUAL {
			return nil, fmt.Errorf("invalid comparator %d", s.GetComparator())
		}
		if err := checkColumnName(s.GetColumnName()); err != nil {
			return nil, err
		}
		v, err := decodeVariant(s.GetColumnValue())
		if err != nil {
			return nil, fmt.Errorf("condition value of column %q: %v", s.GetColumnName(), err)
		}
		if _, ok := v.(special); ok {
			return nil, fmt.Errorf("condition value of column %q is not a data value", s.GetColumnName())
		}
		*leaves++
		if *leaves > maxConditionLeaves {
			return nil, fmt.Errorf("more than %d column conditions", maxConditionLeaves)
		}
		return &filter{column: s.GetColumnName(), comparator: s.GetComparator(), value: v, filterIfMissing: s.GetFilterIfMissing()}, nil
	case otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE:
		var c otsprotocol.CompositeColumnValueFilter
		if err := proto.Unmarshal(pf.GetFilter(), &c); err != nil {
			return nil, fmt.Errorf("composite column condition: %v", err)
		}
		f := &filter{op: c.GetCombinator()}
		switch n := len(c.GetSubFilters()); f.op {
		case otsprotocol.LogicalOperator_LO_NOT:
			if n != 1 {
				return nil, fmt.Errorf("NOT takes 1 sub-condition, got %d", n)
			}
		case otsprotocol.LogicalOperator_LO_AND, otsprotocol.LogicalOperator_LO_OR:
			if n < 2 {
				return nil, fmt.Errorf("%s takes at least 2 sub-conditions, got %d", f.op, n)
			}
		default:
			return nil, fmt.Errorf("invalid logical operator %d", f.op)
		}
		for _, sub := range c.GetSubFilters() {
			sb, err := proto.Marshal(sub)
			if err != nil {
				return nil, err
			}
			sf, err := parseFilterDepth(sb, depth+1, leaves)
			if err != nil {
				return nil, err
			}
			f.subs = append(f.subs, sf)
		}
		return f, nil
	case otsprotocol.FilterType_FT_COLUMN_PAGINATION:
		return nil, fmt.Errorf("a pagination filter is not a row condition")
	}
	return nil, fmt.Errorf("invalid filter type %d", pf.GetType())
}

// match evaluates the condition on a row's columns (nil: the row does not exist, so every
// column is missing). A missing column passes unless filterIfMissing is set; values of
// different types never compare equal, unequal or ordered: the condition fails.
func (f *filter) match(cols map[string]Cell) bool {
	if f.subs != nil {
		switch f.op {
		case otsprotocol.LogicalOperator_LO_NOT:
			return !f.subs[0].match(cols)
		case otsprotocol.LogicalOperator_LO_AND:
			for _, s := range f.subs {
				if !s.match(cols) {
					return false
				}
			}
			return true
		default: // OR
			for _, s := range f.subs {
				if s.match(cols) {
					return true
				}
			}
			return false
		}
	}
	c, ok := cols[f.column]
	if !ok {
		return !f.filterIfMissing
	}
	r, ok := compareValues(c.Value, f.value)
	if !ok {
		return false
	}
	switch f.comparator {
	case otsprotocol.ComparatorType_CT_EQUAL:
		return r == 0
	case otsprotocol.ComparatorType_CT_NOT_EQUAL:
		return r != 0
	case otsprotocol.ComparatorType_CT_GREATER_THAN:
		return r > 0
	case otsprotocol.ComparatorType_CT_GREATER_EQUAL:
		return r >= 0
	case otsprotocol.ComparatorType_CT_LESS_THAN:
		return r < 0
	default: // CT_LESS_EQUAL
		return r <= 0
	}
}

// compareValues orders two values of the same type; ok is false for different types.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		y, ok := b.(int64)
		return cmp.Compare(x, y), ok
	case float64:
		y, ok := b.(float64)
		return cmp.Compare(x, y), ok
	case string:
		y, ok := b.(string)
		return cmp.Compare(x, y), ok
	case []byte:
		y, ok := b.([]byte)
		return bytes.Compare(x, y), ok
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}
