package monitor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wahealth/wahealth/examples"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/state"
)

// A notifier down for three cycles, each with a new change, then back: every change is
// delivered exactly once, in order.
func TestNotifierDownThreeCyclesDeliversEachChangeOnce(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets[:1])
	r.cycle(t) // baseline
	r.console.take()
	r.console.fail = true
	for i := 0; i < 3; i++ { // LIMITED, BLOCKED, (still blocked: nothing new)
		rep := r.cycle(t)
		for _, d := range rep.Deliveries {
			if d.Status != "failed" {
				t.Fatalf("cycle %d: delivery %+v while the notifier is down", i, d)
			}
		}
	}
	r.console.fail = false
	rep := r.cycle(t) // recovered: the two pending alerts, then the recovery
	if rep.Pending != 0 || len(rep.Deliveries) != 3 {
		t.Fatalf("after the notifier is back: pending %d, deliveries %+v", rep.Pending, rep.Deliveries)
	}
	out := r.console.take()
	order := []string{"AVAILABLE → LIMITED", "== [CRITICAL]", "== [RESOLVED]"}
	last := -1
	for _, s := range order {
		if n := strings.Count(out, s); n != 1 {
			t.Errorf("%q delivered %d times, want once", s, n)
		}
		i := strings.Index(out, s)
		if i < last {
			t.Errorf("%q out of order", s)
		}
		last = i
	}
	for i := 0; i < 2; i++ {
		if rep := r.cycle(t); len(rep.Deliveries) != 0 || r.console.take() != "" {
			t.Errorf("a later cycle delivered again: %+v", rep.Deliveries)
		}
	}
}

// breakable is a file store in a directory that a test can make unusable: the directory is
// moved away and a plain file put in its place, so every write fails (even as root).
type breakable struct {
	dir string
}

func (b breakable) breakIt(t *testing.T) {
	t.Helper()
	if err := os.Rename(b.dir, b.dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b breakable) restore(t *testing.T) {
	t.Helper()
	if err := os.Remove(b.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b.dir+".away", b.dir); err != nil {
		t.Fatal(err)
	}
}

// hookWriter runs a hook on the first write after it is armed: the moment a notifier delivers.
type hookWriter struct {
	mu   sync.Mutex
	out  strings.Builder
	hook func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hook != nil {
		h := w.hook
		w.hook = nil
		h()
	}
	return w.out.Write(p)
}

func (w *hookWriter) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.out.String()
	w.out.Reset()
	return s
}

// The store fails right after an alert went out, so the delivery cannot be recorded: the
// next cycle (in the same process) does not send it again.
func TestSaveFailingAfterNotifyDoesNotDuplicate(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets[:1])
	dir := filepath.Join(t.TempDir(), "st")
	store, err := state.OpenFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := &hookWriter{}
	tpl, _ := notify.LoadTemplate("console", "", "")
	r.mon.Store = store
	r.mon.Channels = []monitor.Channel{{Name: "console", Notifier: notify.NewConsole(w, tpl)}}
	b := breakable{dir: dir}

	r.cycle(t) // baseline
	w.take()
	w.hook = func() { b.breakIt(t) } // the store breaks as the LIMITED alert is delivered
	rep := r.cycle(t)
	if !strings.Contains(w.take(), "AVAILABLE → LIMITED") {
		t.Fatal("the alert was not delivered")
	}
	if rep.Pending != 1 || len(rep.Warnings) != 1 {
		t.Fatalf("pending = %d, warnings %v: the outbox should still list the unrecorded delivery", rep.Pending, rep.Warnings)
	}
	b.restore(t)
	rep = r.cycle(t) // BLOCKED: the earlier alert must not go out again
	out := w.take()
	if strings.Contains(out, "AVAILABLE → LIMITED") {
		t.Errorf("the alert was delivered twice:\n%s", out)
	}
	if !strings.Contains(out, "LIMITED → BLOCKED") || rep.Pending != 0 {
		t.Errorf("next cycle: pending %d, output:\n%s", rep.Pending, out)
	}
}

// While the store is unavailable a cycle fails without alerting; when it is back the change
// is detected and alerted once.
func TestStoreUnavailableLosesNothing(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets[:1])
	dir := filepath.Join(t.TempDir(), "st")
	store, err := state.OpenFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.mon.Store = store
	r.cycle(t) // baseline
	r.console.take()
	b := breakable{dir: dir}
	b.breakIt(t)
	if _, err := r.mon.Run(context.Background(), monitor.RunOptions{}); err == nil {
		t.Fatal("a cycle with the store down succeeded")
	}
	if out := r.console.take(); out != "" {
		t.Errorf("alerted while the store was down:\n%s", out)
	}
	b.restore(t)
	r.cycle(t)
	// The simulator moved on by one step per call: the change is still seen and alerted once.
	if out := r.console.take(); strings.Count(out, "== [") != 1 {
		t.Errorf("want exactly one alert after the store is back:\n%s", out)
	}
}

// The timer cycle and an on-demand cycle start at the same moment on the same state: one runs,
// the other is told the state is busy; nothing is lost or doubled.
func TestOverlappingCyclesLoseNothing(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets)
	r.cycle(t) // baseline
	r.console.take()
	// A second monitor on the same state file, like a second FC instance.
	otherStore, err := state.OpenFile(storePath(t, r.store))
	if err != nil {
		t.Fatal(err)
	}
	other := monitor.Monitor{Source: r.mon.Source, Store: otherStore, Channels: r.mon.Channels, Targets: r.mon.Targets, Now: r.mon.Now}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*monitor.Monitor{r.mon, &other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.Run(context.Background(), monitor.RunOptions{})
		}()
	}
	wg.Wait()
	ran := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ran++
		case !errors.Is(err, monitor.ErrBusy):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ran == 0 {
		t.Fatal("neither cycle ran")
	}
	r.cycle(t)
	out := r.console.take()
	if n := strings.Count(out, "AVAILABLE → LIMITED"); n != 1 {
		t.Errorf("the LIMITED change was alerted %d times, want once:\n%s", n, out)
	}
}

func storePath(t *testing.T, s state.Store) string {
	t.Helper()
	fs, ok := s.(*state.FileStore)
	if !ok {
		t.Fatal("not a file store")
	}
	return fs.Path()
}

// A corrupt state is moved aside with a clear error; the next cycle is a fresh baseline.
func TestCorruptStateIsQuarantinedThenFreshBaseline(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets)
	r.cycle(t)
	r.console.take()
	path := storePath(t, r.store)
	if err := os.WriteFile(path, []byte(`{"schema":1,"snapshot":[{"type":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := r.mon.Run(context.Background(), monitor.RunOptions{})
	var q *monitor.QuarantinedError
	if !errors.As(err, &q) || !strings.Contains(err.Error(), path) || !strings.HasPrefix(q.MovedTo, path+".corrupt-") {
		t.Fatalf("got %v, want a QuarantinedError naming %s", err, path)
	}
	if b, _ := os.ReadFile(q.MovedTo); !strings.HasPrefix(string(b), `{"schema":1`) {
		t.Errorf("the damaged copy was not kept: %q", b)
	}
	rep := r.cycle(t)
	out := r.console.take()
	if !rep.Baseline || strings.Count(out, "== ") != 1 || !strings.Contains(out, "monitoring 6 entities") {
		t.Errorf("want one baseline summary, got baseline=%v:\n%s", rep.Baseline, out)
	}
	_ = time.Second
}

// An alert that cannot be delivered for longer than OutboxTTL is dropped and reported as
// expired, so a dead channel does not grow the state forever.
func TestUndeliverableAlertExpires(t *testing.T) {
	r := newRig(t, examples.DemoScenario, demoTargets[:1])
	r.cycle(t) // baseline
	r.console.fail = true
	rep := r.cycle(t) // LIMITED, not delivered
	if rep.Pending != 1 {
		t.Fatalf("pending %d", rep.Pending)
	}
	r.now = r.now.Add(monitor.OutboxTTL)
	rep = r.cycle(t) // a day later: the LIMITED alert expires; BLOCKED fails again
	var expired, failed int
	for _, d := range rep.Deliveries {
		switch d.Status {
		case "expired":
			expired++
			if !strings.Contains(d.Error, "not delivered within 24h0m0s") {
				t.Errorf("expired delivery error %q", d.Error)
			}
		case "failed":
			failed++
		}
	}
	if expired != 1 || failed != 1 || rep.Pending != 1 {
		t.Errorf("expired %d failed %d pending %d: %+v", expired, failed, rep.Pending, rep.Deliveries)
	}
}
