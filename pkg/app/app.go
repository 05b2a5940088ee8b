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
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/state"
	"github.com/wahealth/wahealth/pkg/state/oss"
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
	a := &App{
		Config: cfg,
		Client: client,
		Adhoc:  adhoc,
		Store:  store,
		Monitor: &monitor.Monitor{
			Source:                client,
			Store:                 store,
			Channels:              channels,
			Targets:               targets,
			Logger:                env.Logger,
			Now:                   env.Now,
			CheckFailureThreshold: cfg.CheckFailureThreshold,
			QPS:                   cfg.CAMS.QPS,
			MaxDuration:           cfg.Cycle.MaxDuration.D(),
			SkipCoveredWABA:       cfg.CAMS.SkipCoveredWaba,
			LeaseTTL:              cfg.State.LeaseTTL.D(),
		},
	}
	for _, w := range cfg.Warnings {
		env.Logger.Warn("configuration", slog.String("warning", w))
	}
	if err := applyPolicy(cfg, a.Monitor); err != nil {
		_ = store.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the store.
func (a *App) Close() error { return a.Store.Close() }

// OpenStore is the constructor switch for state backends. Cloud stores sign with the
// credentials of the call's context (cams.WithCredentials: FC's per-invocation ones), else
// creds.
func OpenStore(ctx context.Context, c config.State, creds cams.Credentials, env Env) (state.Store, error) {
	static := func(context.Context) cams.Credentials { return creds }
	var s state.Store
	var err error
	switch c.Type {
	case "file", "":
		s, err = state.OpenFile(c.Path)
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
