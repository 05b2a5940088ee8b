package notify

import (
	"log/slog"
	"net/http"
	"text/template"
	"time"
)

// Options are what every channel's constructor gets besides its own settings.
type Options struct {
	// HTTPClient sends the channel's requests (never http.DefaultClient).
	HTTPClient *http.Client
	// Template renders the channel's messages (LoadTemplate, already checked).
	Template *template.Template
	// Logger receives records about deliveries (never URLs, tokens or secrets).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); signatures use it.
	Now func() time.Time
}

// Clock returns o.Now, or time.Now.
func (o Options) Clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// Log returns o.Logger, or a logger that discards.
func (o Options) Log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
