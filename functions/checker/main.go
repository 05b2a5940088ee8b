// Command checker runs wahealth's check cycle. Locally it runs one cycle (or one every -every)
// and prints a report; see the README for its flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wahealth/wahealth/pkg/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.CheckerMain(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
