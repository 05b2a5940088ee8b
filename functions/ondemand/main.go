// Command ondemand is wahealth's HTTP function: the last known status (JSON, a status page,
// badges), a check cycle on demand, and ad-hoc checks of one entity. Under Function Compute
// (FC_RUNTIME_API set) it serves HTTP trigger events, with JSON logs on stdout. Locally it
// serves the same handler on -listen (default 127.0.0.1:8080); see the README for its flags.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/fcrun"
)

func main() {
	if fcrun.Running() {
		// Built once per container; fc.Start serves invocations until FC stops the instance.
		a, logger, err := fcrun.Boot(os.LookupEnv, os.Stdout)
		var h http.Handler
		if err == nil {
			if h, err = app.OndemandHandler(a, os.LookupEnv, logger); err != nil {
				err = &fcrun.StartError{Err: err}
				logger.Error("wahealth cannot start: every invocation fails until this is fixed", "error", err.Error())
			}
		}
		if err != nil {
			fc.Start(fcrun.FailHTTP(err, logger))
			return
		}
		fc.Start(fcrun.HTTPHandler(h, logger))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.OndemandMain(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
