package oss

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/wahealth/wahealth/pkg/state"
)

// lockInfo is the content of a lock object (lease.json, write.lock).
type lockInfo struct {
	// Owner names the holder for people: the cycle's owner string, or the saver's host and pid.
	Owner string `json:"owner"`
	// Token is random per acquisition: it, not Owner, decides whether a lock object is ours
	// (two cycles may use the same owner name, e.g. a retried invocation).
	Token string `json:"token"`
	// Acquired and Expires are by the holder's clock.
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// String describes the holder for error messages.
func (l lockInfo) String() string {
	return fmt.Sprintf("%q since %s until %s", l.Owner, l.Acquired.UTC().Format(time.RFC3339), l.Expires.UTC().Format(time.RFC3339))
}

// held is a lock this Store created.
type held struct {
	key  string
	info lockInfo
}

// ttl is the lifetime the lock was created with.
func (h *held) ttl() time.Duration { return h.info.Expires.Sub(h.info.Acquired) }

// margin is the safety margin of a lock living ttl: a quarter of it, at most maxMargin.
func margin(ttl time.Duration) time.Duration { return min(ttl/4, maxMargin) }

// readLock reads a lock object. A lock object that does not decode (written by something
// else) is described as unreadable and expires ttl after it was last modified. found is false
// when there is none.
func (s *Store) readLock(ctx context.Context, op, key string, ttl time.Duration) (info lockInfo, etag string, found bool, err error) {
	o, err := s.get(ctx, op, key, maxLockObject)
	if err != nil || o == nil {
		return lockInfo{}, "", false, err
	}
	if json.Unmarshal(o.data, &info) != nil || info.Token == "" || info.Expires.IsZero() {
		info = lockInfo{Owner: "an unreadable lock object", Acquired: o.modified, Expires: o.modified.Add(ttl)}
	}
	return info, o.etag, true, nil
}

// acquire tries once to create the lock object key for owner, valid for ttl. It returns the
// held lock, or nil and a description of the current holder when the lock is busy.
//
// The lock is created create-only. If it exists and has expired, it is taken over: the ETag
// seen is re-checked (HEAD If-Match) so that only that expired object is deleted, it is
// deleted, created again create-only and read back to confirm that no other contender deleted
// ours meanwhile. See Store for the race that remains.
func (s *Store) acquire(ctx context.Context, op, key, owner string, ttl time.Duration) (*held, string, error) {
	tookOver := false
	holder := "another holder"
	for range acquireRounds {
		now := s.now().UTC()
		mine := lockInfo{Owner: owner, Token: newToken(), Acquired: now, Expires: now.Add(ttl)}
		body, err := json.Marshal(mine)
		if err != nil {
			return nil, "", fmt.Errorf("%s %s: %w", op, s.url(key), err)
		}
		_, err = s.put(ctx, op, key, body, true)
		if err == nil {
			if !tookOver {
				return &held{key: key, info: mine}, "", nil
			}
			cur, _, found, err := s.readLock(ctx, op, key, ttl)
			switch {
			case err != nil:
				return nil, "", err
			case found && cur.Token == mine.Token:
				return &held{key: key, info: mine}, "", nil
			case found:
				return nil, cur.String(), nil // a contender deleted ours and created its own
			}
			continue
		}
		if !isCode(err, "FileAlreadyExists") {
			return nil, "", err
		}
		cur, etag, found, err := s.readLock(ctx, op, key, ttl)
		switch {
		case err != nil:
			return nil, "", err
		case !found:
			continue // released meanwhile
		case cur.Token == mine.Token:
			// The SDK retried our create after losing the answer to an attempt that succeeded.
			return &held{key: key, info: mine}, "", nil
		}
		holder = cur.String()
		if s.now().Before(cur.Expires) {
			return nil, holder, nil
		}
		same, err := s.unchanged(ctx, op, key, etag)
		if err != nil {
			return nil, "", err
		}
		if !same {
			continue // renewed, released or taken over by someone else meanwhile: look again
		}
		if err := s.delete(ctx, op, key); err != nil {
			return nil, "", err
		}
		tookOver = true
	}
	return nil, holder, nil
}

// release deletes a lock this Store created if the lock object still carries its token and
// has more than its margin left. A lock taken over by someone else is theirs; one about to
// expire may be being taken over right now, and deleting it could delete the taker's fresh
// lock instead, so it is left to expire.
func (s *Store) release(ctx context.Context, op string, h *held) error {
	cur, _, found, err := s.readLock(ctx, op, h.key, h.ttl())
	if err != nil {
		return err
	}
	if !found || cur.Token != h.info.Token {
		return nil
	}
	if h.info.Expires.Sub(s.now()) < margin(h.ttl()) {
		return nil
	}
	return s.delete(ctx, op, h.key)
}

// writeLock takes the write lock, waiting with jittered backoff while another saver holds it,
// as long as ctx allows.
func (s *Store) writeLock(ctx context.Context, op string) (*held, error) {
	wait := minPoll
	var t *time.Timer
	waitingFor := ""
	for {
		h, holder, err := s.acquire(ctx, op, s.writeKey, s.saver, s.writeTTL)
		if err != nil && waitingFor != "" && ctx.Err() != nil {
			// ctx ended during an attempt: report what we were waiting for.
			return nil, fmt.Errorf("%s %s: wait for the write lock held by %s: %w", op, s.Location(), waitingFor, ctx.Err())
		}
		if err != nil || h != nil {
			return h, err
		}
		waitingFor = holder
		d := jitter(wait)
		wait = min(2*wait, maxPoll)
		if t == nil {
			t = time.NewTimer(d)
			defer t.Stop()
		} else {
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s %s: wait for the write lock held by %s: %w", op, s.Location(), holder, ctx.Err())
		case <-t.C:
		}
	}
}

// stillHeld refuses to go on when less than the margin of the write lock h is left.
func (s *Store) stillHeld(op string, h *held) error {
	if left := h.info.Expires.Sub(s.now()); left < margin(h.ttl()) {
		return fmt.Errorf("%s %s: the write lock ran out before the write (%v left): nothing was written", op, s.Location(), left.Round(time.Millisecond))
	}
	return nil
}

// releaseDetached releases the write lock even when ctx has ended. Failing to release is not
// reported: the operation itself is done, and the lock expires after WriteLockTTL.
func (s *Store) releaseDetached(ctx context.Context, op string, h *held) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_ = s.release(rctx, op, h) // best effort, see above
}

// Lock takes the cycle lease, the object <prefix>lease.json created create-only and holding
// owner, a random token and the expiry now+ttl. While an unexpired lease exists, Lock returns
// at once an error matching state.ErrLocked that names its owner and expiry. An expired lease
// is taken over (see Store for the race that remains). The lease is not renewed: pick a ttl
// longer than a cycle.
func (s *Store) Lock(ctx context.Context, owner string, ttl time.Duration) (state.Lease, error) {
	const op = "lock state"
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%s %s: lease ttl must be positive, got %v", op, s.url(s.leaseKey), ttl)
	}
	h, holder, err := s.acquire(ctx, op, s.leaseKey, owner, ttl)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%s %s: held by %s: %w", op, s.url(s.leaseKey), holder, state.ErrLocked)
	}
	return &Lease{s: s, h: h, owner: owner, expires: h.info.Expires}, nil
}

// Lease is a held cycle lease (what Lock returns).
type Lease struct {
	s       *Store
	owner   string
	expires time.Time

	mu sync.Mutex
	h  *held // nil once released
}

// Owner returns the owner the lease was taken for.
func (l *Lease) Owner() string { return l.owner }

// Expires returns when the lease expires, by the taker's clock.
func (l *Lease) Expires() time.Time { return l.expires }

// Release deletes the lease object if it is still this lease's (same token) and not about to
// expire; a lease that someone took over after it expired is left to its new holder.
// Releasing twice is harmless, and Release works after the Store was closed.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h == nil {
		return nil
	}
	if err := l.s.release(ctx, "release state lease", l.h); err != nil {
		return err
	}
	l.h = nil
	return nil
}
