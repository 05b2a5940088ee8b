package monitor

import (
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
)

// Report is the outcome of one cycle, printed as a table or, with -json, as JSON.
type Report struct {
	CycleID    string    `json:"cycleId"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Checked counts targets checked successfully; Failed those whose check failed.
	Checked int `json:"checked"`
	Failed  int `json:"failed"`
	// Covered counts WABA targets answered from rows a phone or template query of the same
	// cycle returned, without a call of their own.
	Covered int `json:"covered,omitempty"`
	// Sweep says which slice of the targets this cycle checked, and how old the oldest check
	// is.
	Sweep *SweepReport `json:"sweep,omitempty"`
	// Baseline is true for the first cycle, which records state and sends one summary.
	Baseline bool `json:"baseline"`
	// DryRun is true when nothing was alerted or saved.
	DryRun bool `json:"dryRun,omitempty"`
	// Replayed is true when the cycle id had already completed (a platform retry): nothing was
	// checked again and only pending alerts were delivered.
	Replayed bool `json:"replayed,omitempty"`
	// Entities is the state of every known entity after the cycle.
	Entities []EntityReport `json:"entities"`
	// Changes are all differences from the previous state, alerted or not.
	Changes []ChangeReport `json:"changes"`
	// Failures are the targets whose check failed this cycle.
	Failures []FailureReport `json:"failures"`
	// Suppressed lists what the alert policy held back this cycle, and why.
	Suppressed []SuppressedReport `json:"suppressed,omitempty"`
	// Reminders lists the still-degraded entities re-alerted this cycle.
	Reminders []ReminderReport `json:"reminders,omitempty"`
	// Message is the alert the cycle produced, if any.
	Message *notify.Message `json:"message,omitempty"`
	// Digest is the scheduled digest the cycle sent, if one was due.
	Digest *notify.Message `json:"digest,omitempty"`
	// Deliveries are the delivery attempts made this cycle (new and earlier alerts).
	Deliveries []Delivery `json:"deliveries,omitempty"`
	// Pending counts alerts still waiting in the outbox after the cycle.
	Pending int `json:"pending"`
	// Warnings are problems that did not stop the cycle (delivery outcomes that could not be
	// recorded in the store).
	Warnings []string `json:"warnings,omitempty"`
}

// SuppressedReport is an entity whose differences the alert policy did not alert, and why.
type SuppressedReport struct {
	Entity health.Key `json:"entity"`
	// Reason is the rule: "failureThreshold: 1 of 3 cycles", "silenced by <id>", ...
	Reason string `json:"reason"`
	// Changes are the differences from what people were last told.
	Changes []health.Change `json:"changes,omitempty"`
	// Reminder is true when it was a reminder that was held back.
	Reminder bool `json:"reminder,omitempty"`
}

// ReminderReport is a still-degraded entity re-alerted this cycle.
type ReminderReport struct {
	Entity health.Key    `json:"entity"`
	Status health.Status `json:"status"`
	Since  time.Time     `json:"since,omitzero"`
}

// EntityReport is one entity in the report.
type EntityReport struct {
	health.Entity
	// Stale is true when the entity was not checked this cycle (its target failed or was not
	// selected) and shows its previous state.
	Stale bool `json:"stale,omitempty"`
}

// ChangeReport is one change in the report.
type ChangeReport struct {
	health.Change
	Severity health.Severity `json:"severity"`
	// Alerted is true when the change went into the cycle's alert.
	Alerted bool `json:"alerted"`
}

// FailureReport is a target whose check failed.
type FailureReport struct {
	Target health.Target `json:"target"`
	Error  string        `json:"error"`
	// ConsecutiveFailures counts the failures in a row, this one included.
	ConsecutiveFailures int `json:"consecutiveFailures"`
}

// Delivery is one attempt to deliver an alert to one channel.
type Delivery struct {
	MessageID string `json:"messageId"`
	Notifier  string `json:"notifier"`
	// Status is delivered, failed, expired or dropped (its notifier is no longer configured).
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}
