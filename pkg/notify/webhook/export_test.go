package webhook

import "time"

// SetBackoff shortens the wait before a retry without Retry-After, for tests.
func SetBackoff(n *Notifier, d time.Duration) { n.backoff = d }
