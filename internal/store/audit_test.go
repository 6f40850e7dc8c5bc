package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/store"
)

// TestAuditDetail: before/after and via round-trip, AppendAuditTx commits
// and rolls back with its transaction, and rows written without the new
// columns (by a console before 00032) read back with them empty.
func TestAuditDetail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		e, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "a@example.com", Action: store.AuditScanSettings, Target: "scan settings",
			ClientAddr: "192.0.2.1", Via: store.ViaSession, Before: json.RawMessage(`{"autoScanHosts":false}`), After: json.RawMessage(`{"autoScanHosts":true}`)})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Millisecond)
		errBoom := errors.New("the change failed")
		err = s.Tx(ctx, func(q store.Querier) error {
			if err := s.AppendAuditTx(ctx, q, store.AuditEntry{Actor: "a@example.com", Action: store.AuditScanCancel, Target: "scan 1"}); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("rolled back transaction: %v", err)
		}
		clk.Advance(time.Millisecond)
		var committed store.AuditEntry
		if err := s.Tx(ctx, func(q store.Querier) error {
			committed = store.AuditEntry{ID: store.NewID(clk.Now()), Time: clk.Now(), Actor: store.AuditSystem, Via: store.ViaJob,
				Action: store.AuditFeedsUpdate, Target: "feeds", After: json.RawMessage(`{"updated":["kev"]}`)}
			return s.AppendAuditTx(ctx, q, committed)
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Millisecond)
		// A row as a console before migration 00032 wrote it.
		old := store.AuditEntry{ID: store.NewID(clk.Now()), Time: clk.Now(), Actor: "b@example.com", Action: store.AuditLogin, Target: "user b@example.com", ClientAddr: "192.0.2.2"}
		if err := s.Tx(ctx, func(q store.Querier) error {
			_, err := q.ExecContext(ctx, `INSERT INTO audit_log (id, org_id, at, actor_id, actor, action, target, client_addr, detail) VALUES (?, NULL, ?, NULL, ?, ?, ?, ?, '')`,
				old.ID, store.Millis(old.Time), old.Actor, old.Action, old.Target, old.ClientAddr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.ListAudit(ctx, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.AuditEntry{old, committed, e}, got); diff != "" {
			t.Errorf("audit entries (-want +got):\n%s", diff)
		}
	})
}

func TestAuditFilter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		t0 := clk.Now()
		byID := map[string]store.AuditEntry{}
		var ids []string // oldest first
		for _, e := range []store.AuditEntry{
			{Actor: "ada@example.com", Action: store.AuditLogin, Target: "user ada@example.com"},
			{Actor: "ada@example.com", Action: store.AuditScanStart, Target: "scans 01 02"},
			{Actor: "bob@example.com", Action: store.AuditScanCancel, Target: "scan 02"},
			{Actor: "bob@example.com", Action: store.AuditScheduleCreate, Target: "schedule 100%_hosts"},
			{Actor: store.AuditSystem, Action: store.AuditFeedsUpdate, Target: "feeds"},
			{Actor: "Ada@Example.com", Action: store.AuditDecisionCreate, Target: "decision CVE-2031-7 (openssl)"},
		} {
			got, err := s.AppendAudit(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			byID[got.ID] = got
			ids = append(ids, got.ID)
			clk.Advance(time.Minute)
		}
		pick := func(idx ...int) []string {
			out := []string{}
			for i := len(idx) - 1; i >= 0; i-- {
				out = append(out, ids[idx[i]])
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    store.AuditFilter
			want []string
		}{
			{"all", store.AuditFilter{}, pick(0, 1, 2, 3, 4, 5)},
			{"action_prefix", store.AuditFilter{ActionPrefix: "scan."}, pick(1, 2, 3)},
			{"action_prefix_exact", store.AuditFilter{ActionPrefix: "scan.cancel"}, pick(2)},
			{"action_prefix_any_case", store.AuditFilter{ActionPrefix: "SCAN.SCHEDULE"}, pick(3)},
			{"actor_any_case", store.AuditFilter{Actor: "ADA@example.com"}, pick(0, 1, 5)},
			{"actor_is_whole", store.AuditFilter{Actor: "ada"}, pick()},
			{"target_substring", store.AuditFilter{Target: "02"}, pick(1, 2)},
			{"target_like_characters_literal", store.AuditFilter{Target: "100%_"}, pick(3)},
			{"target_percent_matches_no_other", store.AuditFilter{Target: "%"}, pick(3)},
			{"target_underscore_matches_no_other", store.AuditFilter{Target: "_"}, pick(3)},
			{"since", store.AuditFilter{Since: t0.Add(4 * time.Minute)}, pick(4, 5)},
			{"until_excludes", store.AuditFilter{Until: t0.Add(time.Minute)}, pick(0)},
			{"window_and_actor", store.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute), Actor: "bob@example.com"}, pick(2)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []string
				cursor := ""
				for {
					page, next, err := s.FindAudit(ctx, tc.f, store.Page{Limit: 2, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range page {
						got = append(got, e.ID)
					}
					if next == "" {
						break
					}
					cursor = next
				}
				if got == nil {
					got = []string{}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("FindAudit (-want +got):\n%s", diff)
				}
				var each []string
				n, more, err := s.EachAudit(ctx, tc.f, 100, func(e store.AuditEntry) error {
					if diff := cmp.Diff(byID[e.ID], e); diff != "" {
						t.Errorf("EachAudit entry (-want +got):\n%s", diff)
					}
					each = append(each, e.ID)
					return nil
				})
				if each == nil {
					each = []string{}
				}
				if err != nil || more || n != len(tc.want) {
					t.Errorf("EachAudit = %d, %t, %v; want %d, false, nil", n, more, err, len(tc.want))
				}
				if diff := cmp.Diff(tc.want, each); diff != "" {
					t.Errorf("EachAudit (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestEachAuditBound: an export stops at its bound, says more were left
// out, and reads across its batches without skipping or repeating.
func TestEachAuditBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		const total = 2503 // more than two of EachAudit's batches
		err := s.Tx(ctx, func(q store.Querier) error {
			for i := range total {
				if err := s.AppendAuditTx(ctx, q, store.AuditEntry{Actor: "a@example.com", Action: store.AuditLogin, Target: "user " + strconv.Itoa(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			max, want int
			more      bool
		}{{total, total, false}, {total + 1, total, false}, {total - 1, total - 1, true}, {1000, 1000, true}, {1, 1, true}} {
			prev := ""
			n, more, err := s.EachAudit(ctx, store.AuditFilter{}, tc.max, func(e store.AuditEntry) error {
				if prev != "" && e.ID >= prev {
					t.Fatalf("max %d: %s after %s: not newest first", tc.max, e.ID, prev)
				}
				prev = e.ID
				return nil
			})
			if err != nil || n != tc.want || more != tc.more {
				t.Errorf("EachAudit(max %d) = %d, %t, %v; want %d, %t", tc.max, n, more, err, tc.want, tc.more)
			}
		}
	})
}
