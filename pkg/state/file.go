package state

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// lockPoll is how often Save retries a busy write lock while waiting for it.
const lockPoll = 5 * time.Millisecond

// FileStore is the embedded Store: the document lives in one JSON file, replaced atomically on
// every Save. Two sibling files hold OS locks (flock): <path>.lock serialises the
// compare-and-swap of Save, and <path>.lease is the cycle lease taken by Lock. Both are
// advisory locks on separate open file descriptions, so they also exclude goroutines of one
// process that use different handles, and the OS drops them when the holding process dies.
type FileStore struct {
	path      string
	lockPath  string
	leasePath string
	closed    atomic.Bool

	// known remembers the digest and version of the last document this handle read or wrote
	// whole, so that Save need not decode an unchanged file again to learn its version.
	mu    sync.Mutex
	known struct {
		sum     [sha256.Size]byte
		version int64
		ok      bool
	}
}

var _ Store = (*FileStore)(nil)

// OpenFile returns a Store keeping the document in one file at path (parent dirs created 0o700).
// Nothing is read until Load; a missing file is an empty state.
func OpenFile(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("open state file: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open state file %s: %w", abs, err)
	}
	return &FileStore{path: abs, lockPath: abs + ".lock", leasePath: abs + ".lease"}, nil
}

// Path returns the absolute path of the state file.
func (s *FileStore) Path() string { return s.path }

// Load returns the stored document, or New() with Version 0 when the file does not exist.
// An empty or undecodable file is a *CorruptError and a newer schema a *SchemaError, both
// naming the file.
func (s *FileStore) Load(ctx context.Context) (*State, error) {
	if err := s.usable(ctx, "load"); err != nil {
		return nil, err
	}
	b, err := s.readRaw()
	if err != nil {
		return nil, err
	}
	if b == nil {
		return New(), nil
	}
	st, err := Decode(s.path, b)
	if err != nil {
		return nil, err
	}
	s.remember(sha256.Sum256(b), st.Version)
	return st, nil
}

// readRaw returns the bytes of the state file, nil when it does not exist.
func (s *FileStore) readRaw() ([]byte, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if b == nil {
		b = []byte{} // an empty file exists: it is corrupt, not missing
	}
	return b, nil
}

// storedVersion returns the version of the stored document (0 when there is none), or the
// *CorruptError or *SchemaError of a document that cannot be read.
func (s *FileStore) storedVersion() (int64, error) {
	b, err := s.readRaw()
	if err != nil || b == nil {
		return 0, err
	}
	sum := sha256.Sum256(b)
	s.mu.Lock()
	v, ok := s.known.version, s.known.ok && s.known.sum == sum
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	st, err := Decode(s.path, b)
	if err != nil {
		return 0, err
	}
	s.remember(sum, st.Version)
	return st.Version, nil
}

// remember records that the document with digest sum decodes and has version v.
func (s *FileStore) remember(sum [sha256.Size]byte, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known.sum, s.known.version, s.known.ok = sum, v, true
}

// Save stores st if the file still holds version st.Version (0: no file yet), then sets
// st.Version, st.Schema and st.UpdatedAt. It waits for the write lock as long as ctx allows.
// A corrupt or newer-schema file is never overwritten: Save returns its *CorruptError or
// *SchemaError. The file is replaced atomically (temporary file, fsync, rename, directory
// fsync); when Save fails the previous file is intact and st is unchanged.
func (s *FileStore) Save(ctx context.Context, st *State) error {
	if st == nil {
		return fmt.Errorf("save state %s: nil state", s.path)
	}
	if err := s.usable(ctx, "save"); err != nil {
		return err
	}
	lock, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer lock.Close() // closing the only descriptor also drops the lock
	if err := lockWait(ctx, lock); err != nil {
		return fmt.Errorf("save state %s: wait for write lock: %w", s.path, err)
	}

	found, err := s.storedVersion()
	if err != nil {
		return err
	}
	if found != st.Version {
		return fmt.Errorf("save state %s: expected version %d, found %d: %w", s.path, st.Version, found, ErrConflict)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save state %s: %w", s.path, err)
	}

	// Encode a shallow copy so that st changes only once the new file is in place.
	next := *st
	next.Version = st.Version + 1
	next.Schema = SchemaVersion
	next.UpdatedAt = time.Now().UTC()
	b, err := Encode(&next)
	if err != nil {
		return fmt.Errorf("save state %s: %w", s.path, err)
	}
	if err := writeAtomic(s.path, b); err != nil {
		return err
	}
	s.remember(sha256.Sum256(b), next.Version)
	st.Version, st.Schema, st.UpdatedAt = next.Version, next.Schema, next.UpdatedAt
	return nil
}

// writeAtomic replaces path with b: a temporary file in the same directory is written, synced
// and renamed over path, then the directory is synced. On failure the temporary file is removed
// and path is untouched.
func writeAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			_ = f.Close()      // may be closed already; the first error is what matters
			_ = os.Remove(tmp) // best effort: the failure is reported anyway
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	renamed = true
	if err = syncDir(dir); err != nil {
		// The new document is visible but may not survive a crash. Reporting the failure keeps
		// the caller's version unchanged: its next Save conflicts and reloads what is there.
		return fmt.Errorf("save state %s: sync directory: %w", path, err)
	}
	return nil
}

// syncDir flushes a directory entry change. File systems that cannot sync a directory are
// not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// Lock takes the cycle lease, an exclusive flock on <path>.lease. If another handle or process
// holds it, Lock returns at once an error matching ErrLocked that names the holder.
//
// ttl is not used: the OS releases the lock when the holding process exits or crashes, so a
// lease cannot outlive its holder, and a live holder keeps it until Release.
func (s *FileStore) Lock(ctx context.Context, owner string, ttl time.Duration) (Lease, error) {
	if err := s.usable(ctx, "lock"); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.leasePath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock state %s: held by %s: %w", s.path, holder, ErrLocked)
		}
		return nil, fmt.Errorf("lock state %s: %w", s.leasePath, err)
	}
	info, err := json.Marshal(leaseInfo{Owner: owner, Since: time.Now().UTC(), PID: os.Getpid()})
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(info, 0)
	}
	if err != nil {
		f.Close() // also releases the lock
		return nil, fmt.Errorf("lock state %s: record owner: %w", s.leasePath, err)
	}
	return &fileLease{f: f}, nil
}

// leaseInfo is what the lease file holds while locked, for the message of a refused Lock.
type leaseInfo struct {
	Owner string    `json:"owner"`
	Since time.Time `json:"since"`
	PID   int       `json:"pid"`
}

// readHolder describes the holder recorded in a lease file.
func readHolder(f *os.File) string {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 4096))
	var li leaseInfo
	if err != nil || len(b) == 0 || json.Unmarshal(b, &li) != nil {
		return "an unknown owner"
	}
	return fmt.Sprintf("%q (pid %d) since %s", li.Owner, li.PID, li.Since.Format(time.RFC3339))
}

// fileLease is a held flock on the lease file.
type fileLease struct {
	mu sync.Mutex
	f  *os.File
}

// Release unlocks and closes the lease file. Releasing twice is harmless.
func (l *fileLease) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	err := flock(f, syscall.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("release state lease %s: %w", f.Name(), err)
	}
	return nil
}

// Quarantine renames the state file to <path>.corrupt-<UTC time> under the write lock, so
// that the next Load starts from nothing, and returns the new name ("" when there was no file).
func (s *FileStore) Quarantine(ctx context.Context) (string, error) {
	if err := s.usable(ctx, "quarantine"); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("quarantine state: %w", err)
	}
	defer lock.Close()
	if err := lockWait(ctx, lock); err != nil {
		return "", fmt.Errorf("quarantine state %s: wait for write lock: %w", s.path, err)
	}
	if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := s.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.path, aside); err != nil {
		return "", fmt.Errorf("quarantine state: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return aside, fmt.Errorf("quarantine state %s: sync directory: %w", s.path, err)
	}
	s.mu.Lock()
	s.known.ok = false
	s.mu.Unlock()
	return aside, nil
}

// Close marks the store closed: later calls fail. It holds nothing open, and leases taken
// from it stay held until released.
func (s *FileStore) Close() error {
	s.closed.Store(true)
	return nil
}

// usable reports a closed store or a finished context.
func (s *FileStore) usable(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s state %s: store is closed", op, s.path)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s state %s: %w", op, s.path, err)
	}
	return nil
}

// lockWait takes an exclusive flock on f, polling every lockPoll until ctx is done.
func lockWait(ctx context.Context, f *os.File) error {
	var t *time.Timer
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if t == nil {
			t = time.NewTimer(lockPoll)
			defer t.Stop()
		} else {
			t.Reset(lockPoll)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// flock applies a flock operation, retrying when interrupted by a signal.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
