// Command cyclebench measures the wahealth checker the way Function Compute runs it, against
// the CAMS simulator on loopback, and prints the figures the README quotes:
//
//   - the sizes of both function binaries, built exactly like scripts/build.sh
//     (GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -ldflags='-s -w');
//   - the cold start: from the exec of the checker binary (one target, fresh state) to the
//     first CAMS call the simulator receives, median of -coldstarts runs;
//   - for each -entities count (10,000 and 100,000), the wall time, CPU seconds (user+sys) and
//     peak RSS of two full cycles of the real checker binary run as a child process, with the
//     simulator answering instantly: a baseline, then a cycle in which every tenth entity
//     changed (LIMITED with an error code), and the state file's size after each; medians of
//     -repeat pairs, each on a fresh state file. The goal is 10,000 entities under 1 s of CPU
//     and under 100 MiB peak.
//
// Workload: ceil(entities/rows) phone targets, each answered with -rows (100) PHONE_NUMBER rows
// (the target's own and rows-1 extra numbers), plus WABA, BUSINESS and APP rows shared by the
// targets (10 WABAs, 10 businesses, 1 app). A real answer carries 4 rows; wide answers keep the
// call count low (100 calls for 10,000 entities, 1,000 for 100,000) so that, at cams.qps 1000
// and concurrency 64, the rate limit sets at most 0.1 s and 1 s of the cycle, and what is
// measured is the work that grows with the entities: decoding, the snapshot, the diff, the
// state file, the alert and the report. The cost per call is what the cold start and
// BenchmarkThroughput (scripts/bench.sh) measure.
//
// Every figure is printed in a table and as one line "figure name=value unit". Children run
// with a minimal environment and a timeout (-timeout); temporary files are removed.
//
// Usage: go run ./scripts/cyclebench [-entities 10000,100000] [-rows 100] [-coldstarts 5] [-repeat 3] [-timeout 5m]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wahealth/wahealth/pkg/cams/camssim"
)

// functions are the Function Compute functions scripts/build.sh builds from ./functions/<fn>.
var functions = []string{"checker", "ondemand"}

// Goals for 10,000 entities, from issue 7.
const (
	goalEntities = 10000
	goalCPU      = time.Second
	goalRSSMiB   = 100
)

// options are the command-line flags.
type options struct {
	entities   []int
	rows       int
	coldStarts int
	repeat     int
	timeout    time.Duration
}

func main() {
	var o options
	entities := flag.String("entities", "10000,100000", "entity counts of the full-cycle runs, comma-separated")
	flag.IntVar(&o.rows, "rows", 100, "PHONE_NUMBER rows per answer in the full-cycle runs (targets = entities / rows)")
	flag.IntVar(&o.coldStarts, "coldstarts", 5, "cold-start runs (the median is reported)")
	flag.IntVar(&o.repeat, "repeat", 3, "runs of each pair of full cycles, each on a fresh state file (medians are reported)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit of each child process (go build, checker run)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./scripts/cyclebench [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cyclebench: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	var err error
	if o.entities, err = parseEntities(*entities); err != nil {
		fmt.Fprintln(os.Stderr, "cyclebench:", err)
		os.Exit(2)
	}
	if o.rows < 1 || o.coldStarts < 1 || o.repeat < 1 || o.timeout <= 0 {
		fmt.Fprintln(os.Stderr, "cyclebench: -rows, -coldstarts and -repeat must be at least 1, -timeout positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cyclebench:", err)
		os.Exit(1)
	}
}

// run measures everything and prints the results to stdout; progress goes to stderr.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "cyclebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var figs []figure
	fmt.Fprintf(stdout, "wahealth cycle benchmark: %s %s/%s, %d CPUs\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	// 1. Binary sizes.
	fmt.Fprintln(stderr, "cyclebench: building the functions like scripts/build.sh ...")
	bin := filepath.Join(tmp, "bin")
	sizes := map[string]int64{}
	for _, fn := range functions {
		out := filepath.Join(bin, fn)
		if err := goBuild(ctx, root, "linux", "amd64", out, "./functions/"+fn, o.timeout); err != nil {
			return err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return err
		}
		sizes[fn] = fi.Size()
	}
	fmt.Fprintln(stdout, "Binary sizes (GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'; 1 MiB = 1,048,576 bytes)")
	for _, fn := range functions {
		fmt.Fprintf(stdout, "  %-9s %6.2f MiB  (%s bytes)\n", fn, mib(sizes[fn]), thousands(int(sizes[fn])))
		figs = append(figs, figure{"binary_size_" + fn, mib(sizes[fn]), "MiB"})
	}
	fmt.Fprintln(stdout)

	// The checker that runs here: the FC binary itself when this machine can run it.
	checker := filepath.Join(bin, "checker")
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		checker = filepath.Join(tmp, "native", "checker")
		fmt.Fprintf(stdout, "(this machine is %s/%s: the runs below use a %s/%s build with the same flags)\n\n", runtime.GOOS, runtime.GOARCH, runtime.GOOS, runtime.GOARCH)
		if err := goBuild(ctx, root, runtime.GOOS, runtime.GOARCH, checker, "./functions/checker", o.timeout); err != nil {
			return err
		}
	}

	// 2. Cold start.
	fmt.Fprintf(stderr, "cyclebench: cold start, %d runs ...\n", o.coldStarts)
	starts, err := coldStarts(ctx, checker, filepath.Join(tmp, "cold"), o)
	if err != nil {
		return err
	}
	med := median(starts)
	lo, hi := starts[0], starts[0]
	for _, d := range starts {
		lo, hi = min(lo, d), max(hi, d)
	}
	fmt.Fprintf(stdout, "Cold start: exec of the checker binary (1 target, fresh state) to the first CAMS call, %d runs\n", len(starts))
	fmt.Fprintf(stdout, "  median %s   min %s   max %s\n\n", ms(med), ms(lo), ms(hi))
	figs = append(figs, figure{"cold_start_checker_median", float64(med) / float64(time.Millisecond), "ms"})

	// 3. Full cycles.
	type row struct {
		label string
		w     workload
		s     cycleSummary
		over  int // runs over the goal; -1: no goal for this size
	}
	var rows []row
	for _, n := range o.entities {
		w, err := newWorkload(n, o.rows)
		if err != nil {
			return err
		}
		var bases, changes []cycleResult
		for i := range o.repeat {
			fmt.Fprintf(stderr, "cyclebench: full cycles, %s entities (%d targets x %d rows), run %d of %d ...\n", thousands(n), w.Targets, w.Rows, i+1, o.repeat)
			base, changed, err := cycles(ctx, checker, filepath.Join(tmp, fmt.Sprintf("cycle-%d-%d", n, i)), w, o.timeout)
			if err != nil {
				return fmt.Errorf("%s entities: %w", thousands(n), err)
			}
			bases, changes = append(bases, base), append(changes, changed)
		}
		for _, pass := range []struct {
			name, label string
			rs          []cycleResult
		}{{"baseline", "baseline", bases}, {"changed", "10% changed", changes}} {
			s := summarize(pass.rs)
			over := -1
			if n == goalEntities {
				over = overGoal(pass.rs, goalCPU, goalRSSMiB)
			}
			rows = append(rows, row{pass.label, w, s, over})
			p := fmt.Sprintf("cycle_%d_%s_", n, pass.name)
			figs = append(figs,
				figure{p + "entities", float64(s.Entities), "entities"},
				figure{p + "wall", s.Wall.Seconds(), "s"},
				figure{p + "cpu", s.CPU.Seconds(), "s"},
				figure{p + "cpu_max", s.CPUMax.Seconds(), "s"},
				figure{p + "peak_rss", mib(s.MaxRSS), "MiB"},
				figure{p + "peak_rss_max", mib(s.RSSMax), "MiB"},
				figure{p + "state_file", mib(s.StateSize), "MiB"},
				figure{p + "changes", float64(s.Changes), "changes"},
			)
		}
	}
	fmt.Fprintf(stdout, "Full cycle: the checker binary run as a child, simulator answering instantly (latency 0, no QPS limit),\n")
	fmt.Fprintf(stdout, "cams.qps %d, concurrency %d, file state; median of %d runs (range in brackets).\n", benchQPS, benchConcurrency, o.repeat)
	fmt.Fprintf(stdout, "Goal for %s entities: CPU (user+sys) under %s and peak RSS under %d MiB.\n", thousands(goalEntities), goalCPU, goalRSSMiB)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  entities\ttargets x rows\tcycle\twall\tCPU\tpeak RSS\tstate file\tchanges\tgoal\t")
	for _, r := range rows {
		goal := "-"
		switch {
		case r.over < 0:
		case mib(r.s.MaxRSS) >= goalRSSMiB || r.s.CPU >= goalCPU:
			goal = "MISSED"
		case r.over > 0:
			goal = fmt.Sprintf("met (%d of %d runs over)", r.over, r.s.Runs)
		default:
			goal = "met"
		}
		fmt.Fprintf(tw, "  %s\t%d x %d\t%s\t%.2f s\t%.2f s [%.2f-%.2f]\t%.1f MiB [%.1f-%.1f]\t%.1f MiB\t%s\t%s\t\n",
			thousands(r.s.Entities), r.w.Targets, r.w.Rows, r.label, r.s.Wall.Seconds(),
			r.s.CPU.Seconds(), r.s.CPUMin.Seconds(), r.s.CPUMax.Seconds(),
			mib(r.s.MaxRSS), mib(r.s.RSSMin), mib(r.s.RSSMax), mib(r.s.StateSize),
			thousands(r.s.Changes), goal)
	}
	tw.Flush()
	for _, r := range rows {
		if r.label != "baseline" {
			fmt.Fprintf(stdout, "  %s entities, changed cycle: %s entities flipped to LIMITED + error %s -> %s changes (%s); %d calls, %d throttled, %d failed\n",
				thousands(r.s.Entities), thousands(r.w.Flipped()), flipCode, thousands(r.s.Changes), r.s.Kinds, r.s.Calls, r.s.Throttled, r.s.Failed)
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Throughput (1,000 targets at qps 5, 300 ms latency): BenchmarkThroughput, run by scripts/bench.sh (~200 s).")
	fmt.Fprintln(stdout)
	for _, f := range figs {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run cyclebench inside the wahealth module")
	}
	return filepath.Dir(gomod), nil
}

// goBuild builds pkg for goos/goarch into out with scripts/build.sh's flags.
func goBuild(ctx context.Context, root, goos, goarch, out, pkg string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// sim is a CAMS simulator on loopback whose handler records when requests arrive.
type sim struct {
	*camssim.Server
	URL string
	srv *http.Server

	mu    sync.Mutex
	first time.Time // arrival of the first request since the last reset
}

// startSim starts a simulator with the benchmark's credentials, no latency and no QPS limit.
func startSim() (*sim, error) {
	s := &sim{Server: camssim.New(camssim.Options{AccessKeyID: benchKeyID, AccessKeySecret: benchSecret})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the cams simulator: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = now
		}
		s.mu.Unlock()
		s.Server.ServeHTTP(w, r)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// resetFirst forgets the first arrival.
func (s *sim) resetFirst() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.first = time.Time{}
}

// firstArrival returns the arrival of the first request since resetFirst (zero if none).
func (s *sim) firstArrival() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

// close stops the listener and the simulator.
func (s *sim) close() {
	_ = s.srv.Close()
	s.Server.Close()
}

// childEnv is the checker's whole environment: the simulator's credentials and nothing that
// could change its behaviour (no FC_RUNTIME_API, no WAHEALTH_CONFIG, no aliyun profile).
func childEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + benchKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + benchSecret,
	}
}

// childRun is what one run of the checker cost.
type childRun struct {
	Start     time.Time // just before the exec
	Wall      time.Duration
	User, Sys time.Duration
	MaxRSS    int64 // bytes; 0 when the platform does not say
}

// runChecker runs `checker -config config -json` in dir with a timeout, its report going to
// the file stdoutPath, and returns its resource usage. A non-zero exit is an error carrying the
// end of its stderr.
func runChecker(ctx context.Context, checker, config, dir, stdoutPath string, timeout time.Duration) (childRun, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := os.Create(stdoutPath)
	if err != nil {
		return childRun{}, err
	}
	defer out.Close()
	var errBuf tailBuffer
	cmd := exec.CommandContext(ctx, checker, "-config", config, "-json")
	cmd.Dir = dir
	cmd.Env = childEnv(dir)
	cmd.Stdout = out
	cmd.Stderr = &errBuf
	cmd.WaitDelay = 5 * time.Second
	var r childRun
	r.Start = time.Now()
	err = cmd.Run()
	r.Wall = time.Since(r.Start)
	if ps := cmd.ProcessState; ps != nil {
		r.User, r.Sys, r.MaxRSS = ps.UserTime(), ps.SystemTime(), maxRSS(ps)
	}
	if ctx.Err() == context.DeadlineExceeded {
		return r, fmt.Errorf("checker did not finish within %s (-timeout)", timeout)
	}
	if err != nil {
		return r, fmt.Errorf("checker: %w; its stderr ends:\n%s", err, errBuf.String())
	}
	return r, nil
}

// coldStarts runs the checker n times with one target and a fresh state file each time and
// returns, for each run, the time from its exec to the first request the simulator received.
func coldStarts(ctx context.Context, checker, dir string, o options) ([]time.Duration, error) {
	s, err := startSim()
	if err != nil {
		return nil, err
	}
	defer s.close()
	w := workload{Targets: 1, Rows: 1, WABAs: 1}
	var changed atomic.Bool
	s.SetHandler(w.Handler(&changed))
	var out []time.Duration
	for i := range o.coldStarts {
		run := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(run, 0o700); err != nil {
			return nil, err
		}
		config := filepath.Join(run, "wahealth.yaml")
		if err := os.WriteFile(config, w.ConfigYAML(s.URL, filepath.Join(run, "state.json")), 0o600); err != nil {
			return nil, err
		}
		s.resetFirst()
		r, err := runChecker(ctx, checker, config, run, filepath.Join(run, "report.json"), o.timeout)
		if err != nil {
			return nil, fmt.Errorf("cold start run %d: %w", i+1, err)
		}
		first := s.firstArrival()
		if first.IsZero() {
			return nil, fmt.Errorf("cold start run %d: the checker made no CAMS call", i+1)
		}
		out = append(out, first.Sub(r.Start))
	}
	return out, nil
}

// cycleResult is one full cycle of the checker.
type cycleResult struct {
	childRun
	StateSize int64
	Entities  int
	Changes   int
	Kinds     string // changes by kind
	Failed    int    // targets whose check failed
	Calls     int    // requests the simulator received
	Throttled int
}

// CPU is user plus system time.
func (r cycleResult) CPU() time.Duration { return r.User + r.Sys }

// cycles runs the checker twice on one state file: a baseline, then with every tenth entity
// changed.
func cycles(ctx context.Context, checker, dir string, w workload, timeout time.Duration) (base, changed cycleResult, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return base, changed, err
	}
	s, err := startSim()
	if err != nil {
		return base, changed, err
	}
	defer s.close()
	var flip atomic.Bool
	s.SetHandler(w.Handler(&flip))
	statePath := filepath.Join(dir, "state.json")
	config := filepath.Join(dir, "wahealth.yaml")
	if err := os.WriteFile(config, w.ConfigYAML(s.URL, statePath), 0o600); err != nil {
		return base, changed, err
	}
	one := func(name string) (cycleResult, error) {
		s.Reset()
		report := filepath.Join(dir, name+".json")
		r, err := runChecker(ctx, checker, config, dir, report, timeout)
		if err != nil {
			return cycleResult{}, fmt.Errorf("%s cycle: %w", name, err)
		}
		res := cycleResult{childRun: r}
		st := s.Stats()
		res.Calls, res.Throttled = st.Calls, st.Throttled
		fi, err := os.Stat(statePath)
		if err != nil {
			return res, fmt.Errorf("%s cycle: the state file: %w", name, err)
		}
		res.StateSize = fi.Size()
		f, err := os.Open(report)
		if err != nil {
			return res, err
		}
		defer f.Close()
		rep, err := parseReport(f)
		if err != nil {
			return res, fmt.Errorf("%s cycle: %w", name, err)
		}
		res.Entities, res.Changes, res.Kinds, res.Failed = len(rep.Entities), len(rep.Changes), rep.changeKinds(), rep.Failed
		if rep.Checked != w.Targets || rep.Failed != 0 {
			return res, fmt.Errorf("%s cycle: %d of %d targets checked, %d failed", name, rep.Checked, w.Targets, rep.Failed)
		}
		return res, nil
	}
	if base, err = one("baseline"); err != nil {
		return base, changed, err
	}
	flip.Store(true)
	changed, err = one("changed")
	return base, changed, err
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > tailMax {
		p = p[len(p)-tailMax:]
	}
	t.buf.Write(p)
	if extra := t.buf.Len() - tailMax; extra > 0 {
		t.buf.Next(extra)
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
