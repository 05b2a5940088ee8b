package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wahealth/wahealth/examples"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/monitor"
)

// Simulator credentials: the -demo and -simulate modes sign with these, and the simulator
// accepts only them. They are not secrets.
const (
	simAccessKeyID     = "sim-access-key-id"
	simAccessKeySecret = "sim-access-key-secret"
)

// CheckerOptions are the local checker's command-line options.
type CheckerOptions struct {
	ConfigPath string
	Every      time.Duration
	Cycles     int
	JSON       bool
	Demo       bool
	Simulate   string
	DryRun     bool
	TestNotify bool
	InitState  bool
}

// CheckerMain is the local checker program: it parses args, runs one cycle (or one every
// -every), prints the report, and returns the exit code: 0 when every cycle ran, 1 when a cycle
// could not run, 2 for bad usage or configuration.
func CheckerMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	fs := flag.NewFlagSet("checker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o CheckerOptions
	fs.StringVar(&o.ConfigPath, "config", "", "configuration file (default: $WAHEALTH_CONFIG, a path or the YAML itself)")
	fs.DurationVar(&o.Every, "every", 0, "repeat the cycle at this interval until interrupted (0: run once)")
	fs.IntVar(&o.Cycles, "cycles", 0, "with -every or -demo: stop after this many cycles (0: no limit; -demo: the scenario's length)")
	fs.BoolVar(&o.JSON, "json", false, "print each cycle report as JSON instead of a table")
	fs.BoolVar(&o.Demo, "demo", false, "run the bundled demo: the CAMS simulator, a fresh state file, alerts on the console")
	fs.StringVar(&o.Simulate, "simulate", "", "serve CAMS from the simulator with this scenario file instead of the real API")
	fs.BoolVar(&o.DryRun, "dry-run", false, "check and report, but neither alert nor save state")
	fs.BoolVar(&o.InitState, "init-state", false, "prepare the state store (create the Tablestore table, check the OSS bucket) and exit")
	fs.BoolVar(&o.TestNotify, "test-notify", false, "send a clearly marked sample alert through every configured notifier, report each result, and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "checker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	console := stdout
	if o.JSON {
		console = stderr // keep stdout pure JSON
	}

	env := Env{Getenv: getenv, Console: console, Logger: logger}
	var cfg *config.Config
	var err error
	var sim *camssim.Server
	var simAddr string
	switch {
	case o.Demo:
		sc, perr := camssim.ParseScenario(examples.DemoScenario)
		if perr != nil {
			fmt.Fprintf(stderr, "checker: demo scenario: %v\n", perr)
			return 1
		}
		if sim, simAddr, err = startSim(sc); err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 1
		}
		defer sim.Close()
		dir, derr := os.MkdirTemp("", "wahealth-demo-")
		if derr != nil {
			fmt.Fprintf(stderr, "checker: %v\n", derr)
			return 1
		}
		defer os.RemoveAll(dir)
		env.Getenv = overlay(getenv, map[string]string{"WAHEALTH_DEMO_ENDPOINT": simAddr})
		env.Credentials = &cams.Credentials{AccessKeyID: simAccessKeyID, AccessKeySecret: simAccessKeySecret}
		cfg, err = config.Parse("examples/demo/config.yaml", examples.DemoConfig, env.Getenv)
		if err == nil {
			cfg.State.Path = filepath.Join(dir, "state.json")
		}
		if o.Cycles == 0 {
			o.Cycles = examples.DemoCycles
		}
		if o.Every == 0 {
			o.Every = time.Millisecond
		}
		fmt.Fprintf(stdout, "wahealth demo: %d cycles against the CAMS simulator at %s, state in %s\n\n", o.Cycles, simAddr, cfg.State.Path)
	case o.Simulate != "":
		sc, perr := camssim.LoadScenario(o.Simulate)
		if perr != nil {
			fmt.Fprintf(stderr, "checker: -simulate: %v\n", perr)
			return 2
		}
		if sim, simAddr, err = startSim(sc); err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 1
		}
		defer sim.Close()
		env.Getenv = overlay(getenv, map[string]string{"WAHEALTH_DEMO_ENDPOINT": simAddr})
		env.Credentials = &cams.Credentials{AccessKeyID: simAccessKeyID, AccessKeySecret: simAccessKeySecret}
		cfg, err = config.Load(o.ConfigPath, env.Getenv)
		if err == nil {
			cfg.CAMS.Endpoint = simAddr
		}
	default:
		cfg, err = config.Load(o.ConfigPath, getenv)
	}
	if err != nil {
		fmt.Fprintf(stderr, "checker: %v\n", err)
		return 2
	}
	a, err := New(cfg, env)
	if err != nil {
		fmt.Fprintf(stderr, "checker: %v\n", err)
		return 2
	}
	defer a.Close()
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "checker: warning: %s\n", w)
	}
	if !o.JSON && isTerminal(stderr) {
		a.Monitor.Progress = (&progressBar{w: stderr, now: time.Now}).update
	}

	if o.TestNotify {
		return testNotify(ctx, a, stdout, o.JSON)
	}
	if o.InitState {
		did, err := a.InitState(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "checker: init state: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "state: %s\n", did)
		return 0
	}

	code := 0
	for n := 1; ; n++ {
		if o.Demo {
			fmt.Fprintf(stdout, "── cycle %d of %d ──\n", n, o.Cycles)
		}
		rep, err := a.Monitor.Run(ctx, monitor.RunOptions{DryRun: o.DryRun})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return code
			}
			fmt.Fprintf(stderr, "checker: cycle failed: %v\n", err)
			code = 1
		} else if o.JSON {
			enc := json.NewEncoder(stdout)
			if isTerminal(stdout) {
				enc.SetIndent("", "  ") // for people; scripts get compact lines
			}
			if err := enc.Encode(rep); err != nil {
				return 1
			}
		} else {
			_ = rep.WriteTable(stdout)
			fmt.Fprintln(stdout)
		}
		if o.Every <= 0 || (o.Cycles > 0 && n >= o.Cycles) {
			return code
		}
		select {
		case <-ctx.Done():
			return code
		case <-time.After(o.Every):
		}
	}
}

func startSim(sc *camssim.Scenario) (*camssim.Server, string, error) {
	sim := camssim.New(camssim.Options{AccessKeyID: simAccessKeyID, AccessKeySecret: simAccessKeySecret, Scenario: sc})
	u, err := sim.Start()
	if err != nil {
		return nil, "", fmt.Errorf("start cams simulator: %w", err)
	}
	return sim, u, nil
}

// overlay returns a getenv that answers from vars first.
func overlay(getenv func(string) (string, bool), vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return getenv(k)
	}
}

// testNotify sends the sample alert through every notifier and prints the results; the exit
// code is 1 when any failed.
func testNotify(ctx context.Context, a *App, stdout io.Writer, asJSON bool) int {
	results := a.Monitor.TestNotify(ctx)
	code := 0
	for _, r := range results {
		if !r.OK {
			code = 1
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
		return code
	}
	for _, r := range results {
		status := "ok"
		if !r.OK {
			status = "FAILED: " + r.Error
		}
		fmt.Fprintf(stdout, "test alert -> %s (%s): %s in %s\n", r.Notifier, r.Type, status, r.Took)
	}
	return code
}
