// Package fcrun adapts wahealth to Alibaba Cloud Function Compute (FC 3.0, runtime go1): the
// timer trigger's handler (one check cycle per invocation), the HTTP trigger's handler (an
// ordinary net/http handler converted from and to events.HTTPTriggerEvent), and the start-up
// both functions share (configuration and App built once per container, JSON logs on stdout).
//
// Everything here reads the invocation through the context fc.Start passes to a handler: the
// request id, the retry count, the deadline, the function's timeout and the invocation's STS
// credentials. Outside FC that information is absent and the handlers fall back to defaults
// (a generated cycle id, the App's own credentials, no deadline), so they are tested without
// the runtime.
package fcrun

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/config"
)

// EnvRuntimeAPI is the variable Function Compute sets to the host:port of its runtime API; the
// functions run under FC when it is set and as local programs otherwise.
const EnvRuntimeAPI = "FC_RUNTIME_API"

// HeaderRequestID is the request header HTTPHandler sets to the invocation's request id.
const HeaderRequestID = "x-fc-request-id"

// Running reports whether the process runs under Function Compute (FC_RUNTIME_API is set).
func Running() bool { return RunningIn(os.LookupEnv) }

// RunningIn is Running with an injected environment lookup.
func RunningIn(getenv func(string) (string, bool)) bool {
	v, ok := getenv(EnvRuntimeAPI)
	return ok && v != ""
}

// Invocation is what fcrun reads about one invocation from the context fc.Start passes.
type Invocation struct {
	// RequestID is FC's request id; a platform retry carries the same one.
	RequestID string
	// RetryCount is 0 on the first attempt and counts the platform's retries.
	RetryCount int
	// Credentials are the invocation's STS credentials of the function's role (empty when the
	// function has no role).
	Credentials cams.Credentials
	// Timeout is the function's configured timeout (0 when unknown).
	Timeout time.Duration
	// Deadline is when FC stops the invocation (zero when the context has none).
	Deadline time.Time
	// FunctionName is the function's name.
	FunctionName string
}

// InvocationFromContext returns the invocation ctx belongs to. ok is false outside FC (no
// fccontext in ctx); it never panics.
func InvocationFromContext(ctx context.Context) (inv Invocation, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			inv, ok = Invocation{}, false
		}
	}()
	fcc, ok := fccontext.FromContext(ctx)
	if !ok || fcc == nil {
		return Invocation{}, false
	}
	inv = Invocation{
		RequestID:  fcc.RequestID,
		RetryCount: fcc.RetryCount,
		Credentials: cams.Credentials{
			AccessKeyID:     fcc.Credentials.AccessKeyId,
			AccessKeySecret: fcc.Credentials.AccessKeySecret,
			SecurityToken:   fcc.Credentials.SecurityToken,
		},
		Timeout:      time.Duration(fcc.Function.Timeout) * time.Second,
		FunctionName: fcc.Function.Name,
	}
	if d, has := ctx.Deadline(); has {
		inv.Deadline = d
	}
	return inv, true
}

// withCredentials returns ctx signing CAMS calls with the invocation's credentials when it
// has a usable pair, and which credentials apply: "invocation" or "environment" (those the
// App was built with).
func (inv Invocation) withCredentials(ctx context.Context) (context.Context, string) {
	if inv.Credentials.Validate() != nil {
		return ctx, "environment"
	}
	return cams.WithCredentials(ctx, inv.Credentials), "invocation"
}

// NewLogger returns the JSON logger the functions write to stdout under FC, where the log
// service collects it.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Boot prepares a function under FC, once per container: it loads the configuration
// (config.Load with no path: WAHEALTH_CONFIG) and builds the App with the ALIBABA_CLOUD_*
// credentials FC sets, alerts of console notifiers and JSON logs going to stdout. It returns
// the App, the logger for the handlers (info level; the App's own logger reports warnings
// only, so that a cycle logs one line), and an error when the function cannot work; that
// error is logged here, and the main should then start FailTimer or FailHTTP so that every
// invocation reports it.
func Boot(getenv func(string) (string, bool), stdout io.Writer) (*app.App, *slog.Logger, error) {
	logger := NewLogger(stdout, slog.LevelInfo)
	cfg, err := config.Load("", getenv)
	if err == nil {
		var a *app.App
		a, err = app.New(cfg, app.Env{Getenv: getenv, Console: stdout, Logger: NewLogger(stdout, slog.LevelWarn)})
		if err == nil {
			return a, logger, nil
		}
	}
	serr := &StartError{Err: err}
	logger.Error("wahealth cannot start: every invocation fails until this is fixed", slog.String("error", serr.Error()))
	return nil, logger, serr
}

// StartError is why a function could not start (its configuration, a missing credential, a
// state store that cannot be opened). Under FC every invocation then fails with it, so that
// the cause shows in the console instead of a crash loop.
type StartError struct {
	Err error
}

// Error describes the failure.
func (e *StartError) Error() string { return "wahealth could not start: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }
