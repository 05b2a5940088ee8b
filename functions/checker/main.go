// Command checker runs wahealth's check cycle. Under Function Compute (FC_RUNTIME_API set) it
// is the timer function: one cycle per invocation, the report as the response, JSON logs on
// stdout. Locally it runs one cycle (or one every -every) and prints a report; see the README
// for its flags.
package main

import (
	"context"
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
		if err != nil {
			fc.Start(fcrun.FailTimer(err, logger))
			return
		}
		fc.Start(fcrun.TimerHandler(a, logger))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.CheckerMain(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
