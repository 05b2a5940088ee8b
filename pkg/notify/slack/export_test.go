package slack

import (
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
)

// NewWithAPIURL is New with the Web API's base URL pointing at a test server.
func NewWithAPIURL(n config.Notifier, o notify.Options, apiURL string) (*Notifier, error) {
	return newNotifier(n, o, apiURL)
}

// SetBackoff shortens the backoff after 5xx and transport errors.
func (s *Notifier) SetBackoff(d time.Duration) { s.backoff = d }
