package feishu

import "time"

// SetTiming shortens a notifier's waits for tests: the first retry's backoff and the least
// gap between two requests.
func SetTiming(n *Notifier, backoff, gap time.Duration) { n.backoff, n.gap = backoff, gap }
