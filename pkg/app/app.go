// Package app assembles wahealth from its configuration: the CAMS client, the state store, the
// notifiers and the monitor. It holds the one constructor switch for stores and the one for
// notifiers; the functions' mains call it and stay thin.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/state"
	"github.com/wahealth/wahealth/pkg/state/oss"
	"github.com/wahealth/wahealth/pkg/state/tablestore"
)

// Env is what the assembly reads from outside: the environment, the console, the clock.
type Env struct {
	// Getenv looks a variable up (os.LookupEnv in production).
	Getenv func(string) (string, bool)
	// Console is where the console notifier writes.
	Console io.Writer
	// Logger receives structured records.
	Logger *slog.Logger
	// HTTPClient is used for every outbound call (a fresh transport when nil).
	HTTPClient *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Credentials, when set, are used instead of the ALIBABA_CLOUD_* variables (FC passes each
	// invocation's credentials).
	Credentials *cams.Credentials
}

// App is an assembled wahealth.
type App struct {
	Config *config.Config
	Client *cams.Client
	// Adhoc is a second CAMS client, with the same credentials, for the HTTP function's ad-hoc
	// checks (GET /check): its own budget of http.adhocQPS calls a second keeps them from
	// eating the cycles' budget.
	Adhoc   *cams.Client
	Store   state.Store
	Monitor *monitor.Monitor

	env      Env
	creds    cams.Credentials
	channels []monitor.Channel
	targets  []health.Target
	mu       sync.Mutex
	shards   map[string]*monitor.Monitor
}

// New builds an App from a loaded configuration. It fails, before any call, on missing
// credentials, a state store that cannot be opened, or a broken template.
func New(cfg *config.Config, env Env) (*App, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.HTTPClient == nil {
		env.HTTPClient = &http.Client{}
	}
	var creds cams.Credentials
	if env.Credentials != nil {
		creds = *env.Credentials
		if err := creds.Validate(); err != nil {
			return nil, err
		}
	} else {
		c, err := cams.CredentialsFromEnv(env.Getenv)
		if err != nil {
			return nil, err
		}
		creds = c
	}
	client, err := cams.New(cams.Options{
		Endpoint:    cfg.CAMS.Endpoint,
		Credentials: creds,
		QPS:         cfg.CAMS.QPS,
		Timeout:     cfg.CAMS.Timeout.D(),
		MaxRetries:  cfg.CAMS.MaxRetries,
		Concurrency: cfg.CAMS.Concurrency,
		HTTPClient:  env.HTTPClient,
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("cams client: %w", err)
	}
	adhocQPS := cfg.HTTP.AdhocQPS
	if !(adhocQPS > 0) {
		adhocQPS = config.DefaultAdhocQPS
	}
	adhoc, err := cams.New(cams.Options{
		Endpoint:    cfg.CAMS.Endpoint,
		Credentials: creds,
		Budget:      cams.NewBudget(adhocQPS),
		Timeout:     cfg.CAMS.Timeout.D(),
		MaxRetries:  cfg.CAMS.MaxRetries,
		HTTPClient:  env.HTTPClient,
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("cams client for ad-hoc checks: %w", err)
	}
	store, err := OpenStore(context.Background(), cfg.State, creds, env)
	if err != nil {
		return nil, err
	}
	channels, err := Channels(cfg, env)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	targets := make([]health.Target, len(cfg.Targets))
	for i, t := range cfg.Targets {
		targets[i] = t.Health()
	}
	a := &App{Config: cfg, Client: client, Adhoc: adhoc, Store: store, env: env, creds: creds, channels: channels, targets: targets}
	if a.Monitor, err = a.newMonitor(store); err != nil {
		_ = store.Close()
		return nil, err
	}
	for _, w := range cfg.Warnings {
		env.Logger.Warn("configuration", slog.String("warning", w))
	}
	return a, nil
}

// newMonitor builds a monitor of the configuration on store.
func (a *App) newMonitor(store state.Store) (*monitor.Monitor, error) {
	cfg := a.Config
	m := &monitor.Monitor{
		Source:                a.Client,
		Store:                 store,
		Channels:              a.channels,
		Targets:               a.targets,
		Logger:                a.env.Logger,
		Now:                   a.env.Now,
		CheckFailureThreshold: cfg.CheckFailureThreshold,
		QPS:                   cfg.CAMS.QPS,
		MaxDuration:           cfg.Cycle.MaxDuration.D(),
		SkipCoveredWABA:       cfg.CAMS.SkipCoveredWaba,
		LeaseTTL:              cfg.State.LeaseTTL.D(),
	}
	if err := applyPolicy(cfg, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Shard returns the monitor of shard i of n (1 <= i <= n): it checks only the targets whose
// stable hash falls in the shard (health.Shard) and keeps its state in its own scope
// ("shard-i-of-n") of the configured store, so that several timer triggers of one function,
// or several functions, share a Tablestore table (or bucket) without blocking each other.
// Monitors are built once and reused.
func (a *App) Shard(ctx context.Context, i, n int) (*monitor.Monitor, func(health.Target) bool, error) {
	if n < 1 || i < 1 || i > n {
		return nil, nil, fmt.Errorf("shard %d/%d: want i/n with 1 <= i <= n", i, n)
	}
	sel := func(t health.Target) bool { return health.Shard(t.ID(), n) == i }
	key := fmt.Sprintf("shard-%d-of-%d", i, n)
	a.mu.Lock()
	defer a.mu.Unlock()
	if m, ok := a.shards[key]; ok {
		return m, sel, nil
	}
	sc := a.Config.State
	sc.Scope = key
	store, err := OpenStore(ctx, sc, a.creds, a.env)
	if err != nil {
		return nil, nil, err
	}
	m, err := a.newMonitor(store)
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	m.SilencesFrom = a.Store // silences made over HTTP live in the main scope
	if a.shards == nil {
		a.shards = map[string]*monitor.Monitor{}
	}
	a.shards[key] = m
	return m, sel, nil
}

// Close releases the stores.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.Store.Close()
	for _, m := range a.shards {
		_ = m.Store.Close()
	}
	return err
}

// OpenStore is the constructor switch for state backends. Cloud stores sign with the
// credentials of the call's context (cams.WithCredentials: FC's per-invocation ones), else
// creds.
func OpenStore(ctx context.Context, c config.State, creds cams.Credentials, env Env) (state.Store, error) {
	static := func(context.Context) cams.Credentials { return creds }
	var s state.Store
	var err error
	switch c.Type {
	case "file", "":
		p := c.Path
		if d := scopeDir(c.Scope); d != "" {
			ext := filepath.Ext(p)
			p = strings.TrimSuffix(p, ext) + "." + d + ext
		}
		s, err = state.OpenFile(p)
	case "tablestore":
		s, err = tablestore.Open(ctx, tablestore.Options{Endpoint: c.Endpoint, Instance: c.Instance, Table: c.Table,
			Scope: c.Scope, Credentials: static, HTTPClient: env.HTTPClient, Now: env.Now})
	case "oss":
		s, err = oss.Open(ctx, oss.Options{Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket,
			Prefix: path.Join(c.Prefix, scopeDir(c.Scope)) + "/", Credentials: static, HTTPClient: env.HTTPClient, Now: env.Now})
	default:
		err = fmt.Errorf("state.type %q is not supported", c.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return s, nil
}

// scopeDir is the OSS sub-prefix of a scope: none for the default scope, so that a single
// checker's objects sit right under state.prefix.
func scopeDir(scope string) string {
	if scope == "" || scope == "default" {
		return ""
	}
	return scope
}

// InitState prepares the configured store: it creates the Tablestore table (idempotent) or
// checks the OSS bucket (wahealth never creates buckets); the file store needs nothing. It
// returns what it did, for people.
func (a *App) InitState(ctx context.Context) (string, error) {
	switch s := a.Store.(type) {
	case *oss.Store:
		if err := s.EnsureBucket(ctx); err != nil {
			return "", err
		}
		return "OSS bucket " + a.Config.State.Bucket + " is reachable and honours create-only writes under " + s.Location(), nil
	case interface{ CreateTable(context.Context) error }:
		if err := s.CreateTable(ctx); err != nil {
			return "", err
		}
		return "Tablestore table " + a.Config.State.Table + " is ready", nil
	}
	return "the file store needs no setup (" + a.Config.State.Path + ")", nil
}
