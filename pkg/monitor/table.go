package monitor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/wahealth/wahealth/pkg/health"
)

// WriteTable prints the report for people: one row per entity with its status, error codes
// and what changed this cycle, then failures and deliveries.
func (r *Report) WriteTable(w io.Writer) error {
	changed := map[health.Key][]string{}
	for _, c := range r.Changes {
		changed[c.Entity] = append(changed[c.Entity], shortChange(c.Change))
	}
	kind := "cycle"
	if r.Baseline {
		kind = "baseline cycle"
	}
	if r.DryRun {
		kind += " (dry run: nothing alerted or saved)"
	}
	fmt.Fprintf(w, "%s %s: %d targets checked, %d failed, %d entities, %d changes, in %s\n",
		kind, r.CycleID, r.Checked, r.Failed, len(r.Entities), len(r.Changes), r.FinishedAt.Sub(r.StartedAt).Round(1e6))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tID\tSTATUS\tERRORS\tCHANGED")
	for _, e := range r.Entities {
		status := string(e.CanSendMessage)
		if status == "" {
			status = "(none)"
		}
		if e.Stale {
			status += " (stale)"
		}
		codes := strings.Join(e.ErrorCodes(), ",")
		if codes == "" {
			codes = "-"
		}
		ch := strings.Join(changed[e.Key()], "; ")
		if r.Baseline {
			ch = "baseline"
		}
		if ch == "" {
			ch = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.ID, status, codes, ch)
	}
	for _, c := range r.Changes {
		if c.Kind == health.EntityRemoved {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Entity.Type, c.Entity.ID, "(gone)", "-", shortChange(c.Change))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILED %s %s (%d in a row): %s\n", f.Target.NodeType, f.Target.ID(), f.ConsecutiveFailures, f.Error)
	}
	for _, d := range r.Deliveries {
		line := fmt.Sprintf("alert %s -> %s: %s", d.MessageID, d.Notifier, d.Status)
		if d.Error != "" {
			line += " (" + d.Error + ")"
		}
		fmt.Fprintln(w, line)
	}
	if r.Pending > 0 {
		fmt.Fprintf(w, "%d alert(s) pending in the outbox, retried next cycle\n", r.Pending)
	}
	return nil
}

func shortChange(c health.Change) string {
	switch c.Kind {
	case health.StatusChanged:
		return fmt.Sprintf("%s→%s", c.From, c.To)
	case health.ErrorAdded:
		return "+" + c.ErrorCode
	case health.ErrorCleared:
		return "-" + c.ErrorCode
	case health.EntityAdded:
		return "new"
	case health.EntityRemoved:
		return "removed"
	}
	return string(c.Kind)
}
