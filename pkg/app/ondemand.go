package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/ondemand"
)

// DefaultListen is the address the local on-demand server listens on.
const DefaultListen = "127.0.0.1:8080"

// shutdownGrace bounds how long a stopping server waits for requests in flight (a check cycle
// among them).
const shutdownGrace = 30 * time.Second

// OndemandHandler returns the HTTP function's handler for a, reading the bearer token from
// WAHEALTH_HTTP_TOKEN through getenv. It fails when http.auth is token and the variable is
// unset or blank.
func OndemandHandler(a *App, getenv func(string) (string, bool), logger *slog.Logger) (http.Handler, error) {
	token, _ := getenv(config.EnvHTTPToken)
	h, err := ondemand.New(ondemand.Options{
		Monitor:            a.Monitor,
		Store:              a.Store,
		Adhoc:              a.Adhoc,
		DefaultCustSpaceID: a.Config.CustSpaceID,
		Auth:               a.Config.HTTP.Auth,
		Token:              config.Secret(strings.TrimSpace(token)),
		MaxBodyBytes:       a.Config.HTTP.MaxBodyBytes,
		AdhocQPS:           a.Config.HTTP.AdhocQPS,
		Logger:             logger,
		Now:                a.Monitor.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("http function: %w", err)
	}
	return h, nil
}

// OndemandMain is the local HTTP program: it parses args, serves the on-demand handler on
// -listen until ctx is cancelled, then shuts down gracefully. It returns the exit code: 0
// after a clean shutdown, 1 when serving failed, 2 for bad usage or configuration.
func OndemandMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	fs := flag.NewFlagSet("ondemand", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: $WAHEALTH_CONFIG, a path or the YAML itself)")
	listen := fs.String("listen", DefaultListen, "address to serve HTTP on")
	simulate := fs.String("simulate", "", "serve CAMS from the simulator with this scenario file instead of the real API")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ondemand: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	env := Env{Getenv: getenv, Console: stdout, Logger: logger}

	var cfg *config.Config
	var err error
	if *simulate != "" {
		sc, perr := camssim.LoadScenario(*simulate)
		if perr != nil {
			fmt.Fprintf(stderr, "ondemand: -simulate: %v\n", perr)
			return 2
		}
		sim, simAddr, serr := startSim(sc)
		if serr != nil {
			fmt.Fprintf(stderr, "ondemand: %v\n", serr)
			return 1
		}
		defer sim.Close()
		env.Getenv = overlay(getenv, map[string]string{"WAHEALTH_DEMO_ENDPOINT": simAddr})
		env.Credentials = &cams.Credentials{AccessKeyID: simAccessKeyID, AccessKeySecret: simAccessKeySecret}
		cfg, err = config.Load(*configPath, env.Getenv)
		if err == nil {
			cfg.CAMS.Endpoint = simAddr
		}
	} else {
		cfg, err = config.Load(*configPath, getenv)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 2
	}
	if cfg.HTTP.Auth == ondemand.AuthFunction && !loopback(*listen) {
		fmt.Fprintf(stderr, "ondemand: http.auth is %s, which relies on Function Compute to authenticate callers; "+
			"locally nothing would: listen on a loopback address or use http.auth: token with %s\n", ondemand.AuthFunction, config.EnvHTTPToken)
		return 2
	}
	a, err := New(cfg, env)
	if err != nil {
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 2
	}
	defer a.Close()
	h, err := OndemandHandler(a, env.Getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 2
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	fmt.Fprintf(stdout, "wahealth ondemand: serving on http://%s (status page: http://%s/status?format=html)\n", ln.Addr(), ln.Addr())
	if cfg.HTTP.Auth == ondemand.AuthFunction {
		fmt.Fprintf(stdout, "warning: http.auth is %s: requests are not authenticated locally\n", ondemand.AuthFunction)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "ondemand: shutdown: %v\n", err)
		_ = srv.Close()
		return 1
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "ondemand: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "wahealth ondemand: stopped")
	return 0
}

// loopback reports whether a listen address binds a loopback interface only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
