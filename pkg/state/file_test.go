package state_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/state"
	"github.com/wahealth/wahealth/pkg/state/statetest"
)

// fileHarness describes the file backend to the conformance suite.
var fileHarness = statetest.Harness{
	New: func(t *testing.T) state.Store { return openTemp(t) },
	Reopen: func(t *testing.T, s state.Store) state.Store {
		t.Helper()
		o, err := state.OpenFile(pathOf(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return o
	},
	PutRaw: func(t *testing.T, s state.Store, raw []byte) {
		t.Helper()
		if err := os.WriteFile(pathOf(t, s), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	},
	GetRaw: func(t *testing.T, s state.Store) []byte {
		t.Helper()
		b, err := os.ReadFile(pathOf(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	},
	Break: func(t *testing.T, s state.Store) func() {
		t.Helper()
		return replaceDir(t, filepath.Dir(pathOf(t, s)))
	},
}

func TestFileStoreConformance(t *testing.T) {
	statetest.Run(t, fileHarness)
}

// openTemp opens a file store in a fresh directory that OpenFile has to create.
func openTemp(t testing.TB) *state.FileStore {
	t.Helper()
	s, err := state.OpenFile(filepath.Join(t.TempDir(), "state", "wahealth.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pathOf(t *testing.T, s state.Store) string {
	t.Helper()
	fs, ok := s.(*state.FileStore)
	if !ok {
		t.Fatalf("store is a %T, want *state.FileStore", s)
	}
	return fs.Path()
}

// replaceDir makes dir unusable (root ignores permissions, so it is moved away and a regular
// file takes its place) and returns the func that puts it back.
func replaceDir(t *testing.T, dir string) (restore func()) {
	t.Helper()
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(away, dir); err != nil {
			t.Fatal(err)
		}
	}
}

// saved opens a store holding one saved sample document and returns it with that document.
func saved(t *testing.T) (*state.FileStore, *state.State) {
	t.Helper()
	s := openTemp(t)
	st := statetest.Sample()
	if err := s.Save(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	return s, st
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dirNames lists the names in the directory of the state file.
func dirNames(t *testing.T, s *state.FileStore) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func assertNoTempFiles(t *testing.T, s *state.FileStore) {
	t.Helper()
	for _, n := range dirNames(t, s) {
		if strings.Contains(n, ".tmp-") {
			t.Errorf("temporary file %s left behind (directory holds %v)", n, dirNames(t, s))
		}
	}
}

func TestFileSaveLeavesOnlyTheDocument(t *testing.T) {
	s, st := saved(t)
	for i := range 5 {
		st.LastCycle = &state.Cycle{ID: fmt.Sprint("cycle-", i)}
		if err := s.Save(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	stale := *st
	stale.Version = 1
	if err := s.Save(t.Context(), &stale); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("stale Save: err = %v, want ErrConflict", err)
	}
	base := filepath.Base(s.Path())
	want := []string{base, base + ".lock"}
	if got := dirNames(t, s); !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}

func TestFileFailedSaveKeepsPreviousFile(t *testing.T) {
	tests := []struct {
		name string
		// damage makes the next Save of st fail and returns the func that undoes it.
		damage func(t *testing.T, s *state.FileStore, st *state.State) (undo func())
		// errText is part of the expected error.
		errText string
	}{
		{
			name: "directory replaced by a file",
			damage: func(t *testing.T, s *state.FileStore, _ *state.State) func() {
				return replaceDir(t, filepath.Dir(s.Path()))
			},
			errText: "not a directory",
		},
		{
			name: "write lock unusable",
			damage: func(t *testing.T, s *state.FileStore, _ *state.State) func() {
				lock := s.Path() + ".lock"
				if err := os.Remove(lock); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(lock, 0o700); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := os.Remove(lock); err != nil {
						t.Fatal(err)
					}
				}
			},
			errText: "is a directory",
		},
		{
			name: "unencodable document",
			damage: func(_ *testing.T, _ *state.FileStore, st *state.State) func() {
				st.Delivered["bad"] = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
				return func() { delete(st.Delivered, "bad") }
			},
			errText: "year outside of range",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, st := saved(t)
			before := readFile(t, s.Path())
			st.LastCycle = &state.Cycle{ID: "failing"}
			undo := tc.damage(t, s, st)
			err := s.Save(t.Context(), st)
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				undo()
				t.Fatalf("Save: err = %v, want an error containing %q", err, tc.errText)
			}
			if errors.Is(err, state.ErrConflict) {
				t.Errorf("Save: err = %v matches ErrConflict, want another error", err)
			}
			undo()
			if st.Version != 1 {
				t.Errorf("failed Save changed Version to %d, want 1", st.Version)
			}
			if after := readFile(t, s.Path()); string(after) != string(before) {
				t.Error("a failed Save changed the state file")
			}
			assertNoTempFiles(t, s)
			if err := s.Save(t.Context(), st); err != nil || st.Version != 2 {
				t.Errorf("Save after undoing the damage: err = %v, Version %d; want nil, 2", err, st.Version)
			}
		})
	}
}

// TestFileWriteFailsMidway makes the write of the temporary file itself fail (a child process
// lowers its file size limit) and checks that the previous file is intact and nothing is left.
func TestFileWriteFailsMidway(t *testing.T) {
	s, st := saved(t)
	before := readFile(t, s.Path())
	out, err := runChild(t, "fsize", s.Path()).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "save failed:") || !strings.Contains(string(out), "file too large") {
		t.Fatalf("child output %q, want a save that failed with \"file too large\"", out)
	}
	if after := readFile(t, s.Path()); string(after) != string(before) {
		t.Error("a save that failed midway changed the state file")
	}
	assertNoTempFiles(t, s)
	if err := s.Save(t.Context(), st); err != nil || st.Version != 2 {
		t.Errorf("Save after the failed one: err = %v, Version %d; want nil, 2", err, st.Version)
	}
}

func TestFilePermissions(t *testing.T) {
	s, st := saved(t)
	l, err := s.Lock(t.Context(), "perm", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(t.Context())
	// A document planted with loose permissions is tightened by the next save.
	if err := os.Chmod(s.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		s.Path():               0o600,
		s.Path() + ".lock":     0o600,
		s.Path() + ".lease":    0o600,
		filepath.Dir(s.Path()): os.ModeDir | 0o700,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModeType | os.ModePerm); got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
}

func TestFileErrorsNameThePath(t *testing.T) {
	ctx := t.Context()
	s, st := saved(t)
	path := s.Path()

	stale := *st
	stale.Version = 0
	err := s.Save(ctx, &stale)
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("stale Save: err = %v, want ErrConflict", err)
	}
	for _, part := range []string{path, "expected version 0, found 1"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("conflict error %q does not contain %q", err, part)
		}
	}

	l, err := s.Lock(ctx, "holder", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Lock(ctx, "other", time.Minute)
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"holder"`) {
		t.Errorf("refused Lock: err = %v, want ErrLocked naming %s and \"holder\"", err, path)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(path, []byte(`{"schema":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx)
	var ce *state.CorruptError
	if !errors.As(err, &ce) || ce.Where != path || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of a truncated file: err = %v, want a *state.CorruptError naming %s", err, path)
	}
	if err := s.Save(ctx, st); !errors.As(err, &ce) || ce.Where != path {
		t.Errorf("Save over a truncated file: err = %v, want its *state.CorruptError", err)
	}

	if err := os.WriteFile(path, []byte(`{"schema":2,"version":9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx)
	var se *state.SchemaError
	if !errors.As(err, &se) || se.Where != path || se.Found != 2 {
		t.Errorf("Load of a schema 2 file: err = %v, want a *state.SchemaError for %s", err, path)
	}
	if err := s.Save(ctx, st); !errors.As(err, &se) {
		t.Errorf("Save over a schema 2 file: err = %v, want its *state.SchemaError", err)
	}
}

// TestFileSaveWaitsForTheWriteLock holds the write lock from outside and checks that Save waits
// for it while ctx allows, gives up when ctx ends, and goes through once it is released.
func TestFileSaveWaitsForTheWriteLock(t *testing.T) {
	s, st := saved(t)
	lock, err := os.OpenFile(s.Path()+".lock", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Save(ctx, st)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Save while the write lock is held elsewhere: err = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 40*time.Millisecond || el > 5*time.Second {
		t.Errorf("Save gave up after %v, want about 50ms", el)
	}
	if st.Version != 1 {
		t.Errorf("failed Save changed Version to %d", st.Version)
	}

	done := make(chan error, 1)
	go func() { done <- s.Save(t.Context(), st) }()
	select {
	case err := <-done:
		t.Fatalf("Save finished (err = %v) while the write lock was held", err)
	case <-time.After(30 * time.Millisecond):
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Save after the lock was released: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Save still waiting 5s after the lock was released")
	}
	if st.Version != 2 {
		t.Errorf("Version = %d after the waiting Save, want 2", st.Version)
	}
}

func TestFileClosed(t *testing.T) {
	s, st := saved(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Load after Close: err = %v, want a closed-store error", err)
	}
	if err := s.Save(t.Context(), st); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Save after Close: err = %v, want a closed-store error", err)
	}
	if _, err := s.Lock(t.Context(), "x", time.Minute); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Lock after Close: err = %v, want a closed-store error", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestFileLeaseAcrossProcesses takes the lease in a child process and checks that this process
// is refused while the child lives and gets the lease once the child is killed: the OS released
// the lock, no ttl needed.
func TestFileLeaseAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	cmd := runChild(t, "lease", s.Path())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "locked") || strings.HasPrefix(sc.Text(), "error") {
				line <- sc.Text()
				break
			}
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if l != "locked" {
			t.Fatalf("child: %q, want \"locked\"", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child did not take the lease within 20s")
	}

	_, err = s.Lock(ctx, "parent", time.Minute)
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("Lock while the child holds the lease: err = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf(`"child-cycle" (pid %d)`, cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("refused Lock error %q does not name the child as %s", err, want)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error is expected
	waited = true

	l, err := s.Lock(ctx, "parent", time.Minute)
	if err != nil {
		t.Fatalf("Lock after the child was killed: %v, want the lease", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// childEnv selects the helper mode of the test binary when it runs as a child process.
const (
	childEnv     = "WAHEALTH_STATE_TEST_CHILD"
	childPathEnv = "WAHEALTH_STATE_TEST_PATH"
)

// runChild prepares the test binary to run TestFileChildProcess in the given mode.
func runChild(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFileChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childPathEnv+"="+path)
	return cmd
}

// TestFileChildProcess is not a test: it is what the test binary does when another test runs it
// as a child process.
func TestFileChildProcess(t *testing.T) {
	mode, path := os.Getenv(childEnv), os.Getenv(childPathEnv)
	if mode == "" {
		t.Skip("runs only as a child process of another test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := state.OpenFile(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	switch mode {
	case "lease":
		if _, err := s.Lock(ctx, "child-cycle", time.Minute); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		// Hold the lease until killed (or until the parent goes away and closes stdin).
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "fsize":
		st, err := s.Load(ctx)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		addEntities(st, 2000)
		const limit = 16 << 10 // smaller than the document, larger than nothing else written
		signal.Ignore(syscall.SIGXFSZ)
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		rl.Cur = limit
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		if err := s.Save(ctx, st); err != nil {
			fmt.Println("save failed:", err)
		} else {
			fmt.Println("saved: version", st.Version)
		}
		os.Exit(0)
	}
	fmt.Println("error: unknown mode", mode)
	os.Exit(2)
}

// addEntities adds n phone numbers with errors, labels and sources to st's snapshot.
func addEntities(st *state.State, n int) {
	for i := range n {
		st.Snapshot.Add(health.Entity{
			Type: health.PhoneNumber, ID: fmt.Sprintf("+861380000%05d", i), CanSendMessage: health.Limited,
			Errors:      []health.Error{{Code: "141006", Description: "Payment method issue"}},
			CustSpaceID: "cs-1", WabaID: fmt.Sprint("waba-", i%50), PhoneNumber: fmt.Sprintf("+86 138 0000 %05d", i),
			Labels:  map[string]string{"team": "sales"},
			Sources: []string{fmt.Sprint("t", i%7)},
		})
	}
}

func BenchmarkFileSave(b *testing.B) {
	s := openTemp(b)
	st := state.New()
	addEntities(st, 10_000)
	if err := s.Save(b.Context(), st); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Save(b.Context(), st); err != nil {
			b.Fatal(err)
		}
	}
}

func TestQuarantineKeepsTheDamagedCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := state.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	where, err := s.Quarantine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(where)
	if err != nil || string(b) != "{damaged" || !strings.HasPrefix(where, path+".corrupt-") {
		t.Errorf("quarantined copy %q: %q, %v", where, b, err)
	}
}
