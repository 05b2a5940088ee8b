package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	smithytime "github.com/aws/smithy-go/time"

	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/state"
)

// OutboxTTL is how long an undelivered alert is retried before it is dropped (and reported
// as expired).
const OutboxTTL = 24 * time.Hour

// deliver sends every pending alert of st, in order, per channel (a channel whose earlier
// alert failed this cycle is not sent later ones, so order is kept), then saves the outbox. The
// error says the outcomes could not be recorded in the store.
func (m *Monitor) deliver(ctx context.Context, st *state.State, log *slog.Logger) ([]Delivery, error) {
	timeout := m.NotifyTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	channels := map[string]Channel{}
	for _, c := range m.Channels {
		channels[c.Name] = c
	}
	var out []Delivery
	blocked := map[string]bool{}
	now := m.now()
	for _, p := range st.Outbox {
		d := Delivery{MessageID: p.ID, Notifier: p.Notifier, Attempts: p.Attempts}
		ch, ok := channels[p.Notifier]
		switch {
		case st.Delivered[deliveredKey(p)] != (time.Time{}) || m.wasDelivered(deliveredKey(p)):
			d.Status = "delivered" // an earlier attempt got through but could not record it
		case !ok:
			d.Status = "dropped"
			d.Error = "notifier " + p.Notifier + " is no longer configured"
		case now.Sub(p.CreatedAt) > OutboxTTL:
			d.Status = "expired"
			d.Error = fmt.Sprintf("not delivered within %s after %d attempts: %s", OutboxTTL, p.Attempts, p.LastError)
		case blocked[p.Notifier]:
			d.Status = "failed"
			d.Error = "waiting for an earlier alert to this notifier"
		default:
			var msg notify.Message
			err := json.Unmarshal(p.Message, &msg)
			if err == nil {
				t := timeout
				if ch.Timeout > 0 {
					t = ch.Timeout
				}
				nctx, cancel := context.WithTimeout(ctx, t)
				err = ch.Notifier.Notify(nctx, &msg)
				cancel()
			}
			d.Attempts++
			if err != nil {
				d.Status = "failed"
				d.Error = err.Error()
				blocked[p.Notifier] = true
				var perm *notify.PermanentError
				log.Warn("alert not delivered", slog.String("notifier", p.Notifier), slog.String("message", p.ID),
					slog.Int("attempts", d.Attempts), slog.Bool("permanent", errors.As(err, &perm)), slog.String("error", err.Error()))
			} else {
				d.Status = "delivered"
				m.remember(deliveredKey(p), now)
			}
		}
		out = append(out, d)
	}
	return out, m.recordDeliveries(ctx, st, out, log)
}

func deliveredKey(p state.Pending) string { return p.Notifier + "|" + p.ID }

// applyDeliveries updates st's outbox with the outcomes: delivered, expired and dropped
// alerts leave it, failed ones count an attempt.
func (m *Monitor) applyDeliveries(st *state.State, ds []Delivery) {
	byKey := map[string]Delivery{}
	for _, d := range ds {
		byKey[d.Notifier+"|"+d.MessageID] = d
	}
	now := m.now()
	if st.Delivered == nil {
		st.Delivered = map[string]time.Time{}
	}
	kept := st.Outbox[:0]
	for _, p := range st.Outbox {
		d, ok := byKey[deliveredKey(p)]
		if !ok {
			kept = append(kept, p)
			continue
		}
		switch d.Status {
		case "delivered":
			st.Delivered[deliveredKey(p)] = now
		case "failed":
			if d.Attempts > p.Attempts {
				p.Attempts, p.LastError = d.Attempts, d.Error
			}
			kept = append(kept, p)
		}
	}
	st.Outbox = kept
	ttl := m.DeliveredTTL
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	for k, t := range st.Delivered {
		if now.Sub(t) > ttl {
			delete(st.Delivered, k)
		}
	}
}

// recordDeliveries saves the outbox after delivery. A conflict means someone else saved in
// between (the HTTP function storing a silence, or a cycle whose lease took over an expired
// one): re-read and apply the outcomes to the fresh state.
func (m *Monitor) recordDeliveries(ctx context.Context, st *state.State, ds []Delivery, log *slog.Logger) error {
	if len(ds) == 0 {
		return nil
	}
	cur := st
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		m.applyDeliveries(cur, ds)
		if err = m.Store.Save(ctx, cur); err == nil {
			m.forget(ds)
			return nil
		}
		log.Warn("save outbox after delivery", slog.Int("attempt", attempt), slog.String("error", err.Error()))
		if !errors.Is(err, state.ErrConflict) {
			if attempt < 3 {
				_ = smithytime.SleepWithContext(ctx, time.Duration(attempt)*200*time.Millisecond)
			}
			continue
		}
		fresh, lerr := m.Store.Load(ctx)
		if lerr != nil {
			return fmt.Errorf("record deliveries: %w", lerr)
		}
		cur = fresh
	}
	return fmt.Errorf("record deliveries: %w", err)
}

// remember notes a delivery until the store has recorded it.
func (m *Monitor) remember(key string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unrecorded == nil {
		m.unrecorded = map[string]time.Time{}
	}
	m.unrecorded[key] = at
}

// wasDelivered reports a delivery this process made but could not record.
func (m *Monitor) wasDelivered(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.unrecorded[key]
	return ok
}

// forget drops the notes of deliveries the store has now recorded.
func (m *Monitor) forget(ds []Delivery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		delete(m.unrecorded, d.Notifier+"|"+d.MessageID)
	}
}
