package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
)

func TestPhoneRoundTrip(t *testing.T) {
	for _, k := range []int{0, 1, 99, 100, 123456, 9999999999} {
		p := phone(k)
		if len(p) != 12 || !strings.HasPrefix(p, "86") {
			t.Errorf("phone(%d) = %q, want 86 and ten digits", k, p)
		}
		if got, ok := phoneIndex(p); !ok || got != k {
			t.Errorf("phoneIndex(%q) = %d, %v; want %d, true", p, got, ok, k)
		}
		if got, ok := phoneIndex("+" + p[:2] + " " + p[2:]); !ok || got != k {
			t.Errorf("phoneIndex of a formatted %q = %d, %v; want %d, true", p, got, ok, k)
		}
	}
	for _, p := range []string{"", "8613800000001x", "4400000000001", "86123", "86-00000000-1x"} {
		if k, ok := phoneIndex(p); ok {
			t.Errorf("phoneIndex(%q) = %d, true; want false", p, k)
		}
	}
}

func TestNewWorkload(t *testing.T) {
	tests := []struct {
		entities, rows int
		want           workload
		wantEntities   int
		wantFlipped    int
	}{
		{10000, 100, workload{Targets: 100, Rows: 100, WABAs: 10}, 10021, 1000},
		{100000, 100, workload{Targets: 1000, Rows: 100, WABAs: 10}, 100021, 10000},
		{10000, 7, workload{Targets: 1429, Rows: 7, WABAs: 10}, 10024, 1001},
		{5, 100, workload{Targets: 1, Rows: 100, WABAs: 1}, 103, 10},
	}
	for _, tt := range tests {
		w, err := newWorkload(tt.entities, tt.rows)
		if err != nil {
			t.Fatalf("newWorkload(%d, %d): %v", tt.entities, tt.rows, err)
		}
		if w != tt.want {
			t.Errorf("newWorkload(%d, %d) = %+v, want %+v", tt.entities, tt.rows, w, tt.want)
		}
		if got := w.Entities(); got != tt.wantEntities {
			t.Errorf("%+v.Entities() = %d, want %d", w, got, tt.wantEntities)
		}
		if got := w.Flipped(); got != tt.wantFlipped {
			t.Errorf("%+v.Flipped() = %d, want %d", w, got, tt.wantFlipped)
		}
	}
	for _, bad := range [][2]int{{0, 100}, {100, 0}, {-1, 1}} {
		if _, err := newWorkload(bad[0], bad[1]); err == nil {
			t.Errorf("newWorkload(%d, %d): no error", bad[0], bad[1])
		}
	}
}

func TestConfigYAMLIsValid(t *testing.T) {
	w := workload{Targets: 3, Rows: 10, WABAs: 3}
	state := filepath.Join(t.TempDir(), "dir with: space", "state.json")
	cfg, err := config.Parse("generated", w.ConfigYAML("http://127.0.0.1:12345", state), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the generated configuration does not parse: %v", err)
	}
	if len(cfg.Targets) != 3 {
		t.Fatalf("%d targets, want 3", len(cfg.Targets))
	}
	for i, tg := range cfg.Targets {
		if tg.NodeType != "phone" || tg.PhoneNumber != phone(i*10) {
			t.Errorf("target %d = %s %s, want phone %s", i, tg.NodeType, tg.PhoneNumber, phone(i*10))
		}
	}
	if cfg.CAMS.QPS != benchQPS || cfg.CAMS.Concurrency != benchConcurrency || cfg.CAMS.Endpoint != "http://127.0.0.1:12345" {
		t.Errorf("cams = qps %g, concurrency %d, endpoint %s", cfg.CAMS.QPS, cfg.CAMS.Concurrency, cfg.CAMS.Endpoint)
	}
	if cfg.State.Type != "file" || cfg.State.Path != state {
		t.Errorf("state = %s %s, want file %s", cfg.State.Type, cfg.State.Path, state)
	}
}

func TestHandler(t *testing.T) {
	w := workload{Targets: 4, Rows: 20, WABAs: 3}
	var changed atomic.Bool
	h := w.Handler(&changed)
	q := camssim.Query{NodeType: "phone", CustSpaceID: custSpace, PhoneNumber: phone(3 * 20)}

	st := h(q)
	if st == nil || len(st.Extra) != 19 || st.Phone != nil {
		t.Fatalf("baseline step = %+v, want 19 extra rows and a default phone row", st)
	}
	if st.WabaID != "waba-0" || st.BusinessID != "biz-0" { // target 3 of 3 WABAs
		t.Errorf("ids = %s %s, want waba-0 biz-0", st.WabaID, st.BusinessID)
	}
	seen := map[string]bool{}
	for i, x := range st.Extra {
		if x.Type != "PHONE_NUMBER" || x.CanSendMessage != "AVAILABLE" || len(x.Errors) != 0 || x.WabaID != st.WabaID {
			t.Errorf("baseline extra row %d = %+v", i, x)
		}
		if want := phone(60 + 1 + i); x.PhoneNumber != want {
			t.Errorf("extra row %d phone %s, want %s", i, x.PhoneNumber, want)
		}
		seen[x.PhoneNumber] = true
	}
	if len(seen) != 19 || seen[q.PhoneNumber] {
		t.Errorf("extra numbers not distinct from each other and the target's: %d distinct", len(seen))
	}

	changed.Store(true)
	st = h(q)
	flipped := 0
	if st.Phone != nil { // 60 % 10 == 0
		flipped++
		if st.Phone.Status != health.Limited || len(st.Phone.Errors) != 1 || st.Phone.Errors[0].Code != flipCode {
			t.Errorf("flipped phone row = %+v", st.Phone)
		}
	}
	for _, x := range st.Extra {
		if x.CanSendMessage == "LIMITED" {
			flipped++
		}
	}
	if flipped != 2 { // 60 and 70
		t.Errorf("%d rows flipped in target 3, want 2", flipped)
	}
	for _, other := range []camssim.Query{
		{NodeType: "phone", PhoneNumber: "8613800000001"},
		{NodeType: "template", TemplateCode: "x", Language: "en"},
	} {
		if st := h(other); st != nil {
			t.Errorf("h(%+v) = %+v, want nil (the simulator's default)", other, st)
		}
	}
}

func TestParseReport(t *testing.T) {
	in := `{"cycleId":"c","checked":2,"failed":0,"baseline":false,
	  "entities":[{"type":"PHONE_NUMBER","id":"1"},{"type":"WABA","id":"w"},{"type":"APP","id":"a"}],
	  "changes":[{"kind":"status"},{"kind":"error_added"},{"kind":"status"}],"failures":[]}`
	rep, err := parseReport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 2 || len(rep.Entities) != 3 || len(rep.Changes) != 3 || rep.Baseline {
		t.Errorf("report = %+v", rep)
	}
	if got, want := rep.changeKinds(), "error_added=1 status=2"; got != want {
		t.Errorf("changeKinds = %q, want %q", got, want)
	}
	if _, err := parseReport(strings.NewReader("checker: warning\n")); err == nil {
		t.Error("parseReport of text: no error")
	}
}

func TestMedian(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5, 3, 7), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	}
	for _, tt := range tests {
		in := append([]time.Duration(nil), tt.in...)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("median reordered its argument")
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	run := func(cpuMS, rssMiB int, changes int) cycleResult {
		return cycleResult{
			childRun:  childRun{Wall: time.Duration(cpuMS) * time.Millisecond, User: time.Duration(cpuMS) * time.Millisecond, MaxRSS: int64(rssMiB) << 20},
			StateSize: 1 << 20, Entities: 10021, Changes: changes, Kinds: "status=1",
		}
	}
	rs := []cycleResult{run(900, 80, 2000), run(1100, 85, 2000), run(700, 99, 2000)}
	s := summarize(rs)
	if s.Runs != 3 || s.CPU != 900*time.Millisecond || s.CPUMin != 700*time.Millisecond || s.CPUMax != 1100*time.Millisecond {
		t.Errorf("cpu: %+v", s)
	}
	if s.MaxRSS != 85<<20 || s.RSSMin != 80<<20 || s.RSSMax != 99<<20 || s.StateSize != 1<<20 {
		t.Errorf("memory: %+v", s)
	}
	if s.Entities != 10021 || s.Changes != 2000 || s.Kinds != "status=1" || s.Wall != 900*time.Millisecond {
		t.Errorf("counts: %+v", s)
	}
	if got := overGoal(rs, time.Second, 100); got != 1 {
		t.Errorf("overGoal(1 s, 100 MiB) = %d, want 1", got)
	}
	if got := overGoal(rs, time.Second, 90); got != 2 {
		t.Errorf("overGoal(1 s, 90 MiB) = %d, want 2", got)
	}
}

func TestFigureString(t *testing.T) {
	tests := []struct {
		f    figure
		want string
	}{
		{figure{"binary_size_checker", 12.345678, "MiB"}, "figure binary_size_checker=12.346 MiB"},
		{figure{"cycle_10000_changed_changes", 2000, "changes"}, "figure cycle_10000_changed_changes=2000 changes"},
		{figure{"cold_start_checker_median", 8.5, "ms"}, "figure cold_start_checker_median=8.5 ms"},
		{figure{"x", 0, "s"}, "figure x=0 s"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestParseEntities(t *testing.T) {
	got, err := parseEntities(" 10000, 100_000 ,")
	if err != nil || len(got) != 2 || got[0] != 10000 || got[1] != 100000 {
		t.Errorf("parseEntities = %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "10k", "0", "-5"} {
		if _, err := parseEntities(bad); err == nil {
			t.Errorf("parseEntities(%q): no error", bad)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100021: "100,021", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	big := bytes.Repeat([]byte("a"), tailMax)
	if n, err := tb.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, _ := tb.Write([]byte("the end")); n != 7 {
		t.Fatalf("Write = %d", n)
	}
	s := tb.String()
	if len(s) != tailMax || !strings.HasSuffix(s, "aaathe end") {
		t.Errorf("tail has %d bytes, ends %q", len(s), s[max(len(s)-12, 0):])
	}
}

// TestCyclesInProcess runs a small workload's two cycles through app.CheckerMain against the
// simulator: the changed cycle reports a status change and an added error per flipped entity.
func TestCyclesInProcess(t *testing.T) {
	w := workload{Targets: 3, Rows: 10, WABAs: 2}
	rig := newRig(t, w)
	base := rig.cycle(t)
	if !base.Baseline || len(base.Entities) != w.Entities() || base.Checked != 3 || base.Failed != 0 {
		t.Fatalf("baseline: baseline %v, %d entities (want %d), %d checked, %d failed",
			base.Baseline, len(base.Entities), w.Entities(), base.Checked, base.Failed)
	}
	rig.changed.Store(true)
	next := rig.cycle(t)
	if next.Baseline || len(next.Entities) != w.Entities() {
		t.Fatalf("changed cycle: baseline %v, %d entities", next.Baseline, len(next.Entities))
	}
	if got, want := next.changeKinds(), "error_added=3 status=3"; got != want {
		t.Errorf("changed cycle's changes: %s, want %s", got, want)
	}
}

// rig runs the checker in-process against a simulator serving a workload.
type rig struct {
	w       workload
	sim     *sim
	changed atomic.Bool
	config  string
	state   string
	getenv  func(string) (string, bool)
}

func newRig(tb testing.TB, w workload) *rig {
	tb.Helper()
	s, err := startSim()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.close)
	r := &rig{w: w, sim: s}
	s.SetHandler(w.Handler(&r.changed))
	dir := tb.TempDir()
	r.state = filepath.Join(dir, "state.json")
	r.config = filepath.Join(dir, "wahealth.yaml")
	if err := os.WriteFile(r.config, w.ConfigYAML(s.URL, r.state), 0o600); err != nil {
		tb.Fatal(err)
	}
	env := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": benchKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": benchSecret}
	r.getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return r
}

// run runs one cycle, its report going to stdout.
func (r *rig) run(tb testing.TB, stdout io.Writer) {
	tb.Helper()
	var stderr tailBuffer
	if code := app.CheckerMain(context.Background(), []string{"-config", r.config, "-json"}, stdout, &stderr, r.getenv); code != 0 {
		tb.Fatalf("checker exited %d: %s", code, stderr.String())
	}
}

// cycle runs one cycle and returns its report.
func (r *rig) cycle(tb testing.TB) *cycleReport {
	tb.Helper()
	var out bytes.Buffer
	r.run(tb, &out)
	rep, err := parseReport(&out)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

var (
	benchEntities = flag.Int("cycle.entities", 10000, "entities in BenchmarkCycle")
	benchRows     = flag.Int("cycle.rows", 100, "rows per answer in BenchmarkCycle")
)

// BenchmarkCycle runs the checker's cycle in-process (app.CheckerMain with -json, the report
// discarded) on the workload cyclebench uses, for profiling with -cpuprofile / -memprofile.
// The simulator runs in the same process: its functions (camssim, the server side of net/http)
// are in the profile too. "baseline" starts from an empty state every iteration; "changed"
// flips every tenth entity each iteration (LIMITED, then back), so every cycle has changes.
//
//	go test -run '^$' -bench Cycle -benchtime 10x -cpuprofile cpu.out ./scripts/cyclebench
//	go tool pprof -top -cum cpu.out
func BenchmarkCycle(b *testing.B) {
	w, err := newWorkload(*benchEntities, *benchRows)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline", func(b *testing.B) {
		r := newRig(b, w)
		for b.Loop() {
			if err := os.Remove(r.state); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
			r.run(b, io.Discard)
		}
		b.ReportMetric(float64(w.Entities()), "entities")
	})
	b.Run("changed", func(b *testing.B) {
		r := newRig(b, w)
		r.run(b, io.Discard) // the baseline
		for b.Loop() {
			r.changed.Store(!r.changed.Load())
			r.run(b, io.Discard)
		}
		b.ReportMetric(float64(w.Entities()), "entities")
	})
}
