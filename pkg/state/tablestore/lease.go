package tablestore

import (
	"context"
	"fmt"
	"sync"
	"time"

	ots "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/wahealth/wahealth/pkg/state"
)

// Columns of the lease row <scope>#lease.
const (
	colOwner   = "owner"   // STRING: who holds the lease (the cycle id)
	colExpires = "expires" // INTEGER: Unix ms after which the lease is free
	colToken   = "token"   // STRING: random, new at every take; releases and takeovers match it
)

// leaseTakeAttempts bounds how often Lock re-reads a lease that changed hands under it.
const leaseTakeAttempts = 4

// holder is the lease row as read.
type holder struct {
	owner   string
	expires int64 // Unix ms; 0 when unreadable
	token   string
	hasTok  bool
}

// Lock takes the cycle lease, the row <scope>#lease. It succeeds when the row does not
// exist, when its lease expired (its expires, in Unix ms, is not after Options.Now), or when
// it is held by the same owner (a retried invocation taking its own lease back); otherwise it
// returns at once an error matching state.ErrLocked that names the holder and the expiry.
//
// Taking is a compare-and-swap: PutRow with EXPECT_NOT_EXIST for a free lease, or with
// EXPECT_EXIST and "token == the token read" over an expired one, so that of two cycles
// racing for it exactly one wins. Each take writes a new random token; Release deletes the
// row only while it still carries that token. The lease does not stop a Save: the state row's
// own compare-and-swap protects the document even if a lease expires mid-cycle.
func (s *Store) Lock(ctx context.Context, owner string, ttl time.Duration) (state.Lease, error) {
	if err := s.usable(ctx, "lock"); err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, fmt.Errorf("lock state %s: empty owner", s.where)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lock state %s: lease ttl %v is not positive", s.where, ttl)
	}
	key := s.opts.Scope + leaseSuffix
	token := randomHex(16)
	for range leaseTakeAttempts {
		cols, err := s.getRow(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("lock state %s: read the lease: %w", s.where, err)
		}
		now := s.now()
		h := readHolder(cols)
		if cols != nil && h.hasTok && h.token == token {
			// An earlier attempt of this take landed though its answer was lost.
			return &lease{store: s, key: key, token: token, owner: owner}, nil
		}
		if cols != nil && h.owner != owner && h.expires > now.UnixMilli() {
			return nil, fmt.Errorf("lock state %s: held by %q until %s: %w",
				s.where, h.owner, time.UnixMilli(h.expires).UTC().Format(time.RFC3339), state.ErrLocked)
		}
		row := []ots.AttributeColumn{
			{ColumnName: colExpires, Value: now.Add(ttl).UnixMilli()},
			{ColumnName: colOwner, Value: owner},
			{ColumnName: colToken, Value: token},
		}
		exist := ots.RowExistenceExpectation_EXPECT_NOT_EXIST
		var cond ots.ColumnFilter
		if cols != nil {
			exist = ots.RowExistenceExpectation_EXPECT_EXIST
			c := ots.NewSingleColumnCondition(colToken, ots.CT_EQUAL, h.token)
			// A row without a token passes only while it still has none.
			c.FilterIfMissing = h.hasTok
			c.LatestVersionOnly = true
			cond = c
		}
		err = s.putRow(ctx, key, row, exist, cond)
		if conditionFailed(err) {
			continue // taken or released meanwhile: look again
		}
		if err != nil {
			return nil, fmt.Errorf("lock state %s: write the lease: %w", s.where, err)
		}
		return &lease{store: s, key: key, token: token, owner: owner}, nil
	}
	return nil, fmt.Errorf("lock state %s: the lease changed hands %d times while taking it: %w", s.where, leaseTakeAttempts, state.ErrLocked)
}

// readHolder reads a lease row; unreadable fields stay zero, which makes the lease expired.
func readHolder(cols map[string]any) holder {
	var h holder
	h.owner, _ = cols[colOwner].(string)
	h.expires, _ = cols[colExpires].(int64)
	h.token, h.hasTok = cols[colToken].(string)
	if h.owner == "" {
		h.owner = "an unknown owner"
	}
	return h
}

// lease is a held lease row.
type lease struct {
	store *Store
	key   string
	token string
	owner string

	mu       sync.Mutex
	released bool
}

// Release deletes the lease row if it still carries this take's token; a lease already
// released, expired and taken over, or deleted by hand is left as it is. Releasing twice is
// harmless. It works on a closed store too, so that a deferred Release after Close does not
// leave the lease to expire.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("release state lease %s: %w", l.store.where, err)
	}
	c := ots.NewSingleColumnCondition(colToken, ots.CT_EQUAL, l.token)
	c.FilterIfMissing = true
	c.LatestVersionOnly = true
	err := l.store.deleteRow(ctx, l.key, ots.RowExistenceExpectation_EXPECT_EXIST, c)
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release state lease %s held by %q: %w", l.store.where, l.owner, err)
	}
	l.released = true
	return nil
}
