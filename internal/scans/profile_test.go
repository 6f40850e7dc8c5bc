package scans

import (
	"context"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// TestComplianceProfile checks a compliance scan's profile reaches the
// sensor's command from each way of starting scans (a request, a
// schedule, auto-scan), and that scans of other types carry none.
func TestComplianceProfile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.Store, clk *clock) {
		ctx := context.Background()
		s := newService(t, st, clk, nil, false)
		addNode(t, s, "h1", "host", "host-1", "host-1", "s1")
		addNode(t, s, "h2", "host", "host-2", "host-2", "s2")
		addNode(t, s, "h3", "host", "host-3", "host-3", "s3")
		profileOf := func(sensor string) map[string]string {
			t.Helper()
			cmds, err := s.Queue.Poll(ctx, sensor, "u1", 10, TypeVulnerability, TypeCompliance)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, c := range cmds {
				out[c.CommandScanType()] = c.Profile
			}
			return out
		}

		got, err := s.StartScans(ctx, ScanRequest{NodeIDs: []string{"h1"}, Types: []string{TypeVulnerability, TypeCompliance}, Profile: "cis_level1_server"}, "a")
		if err != nil || len(got) != 2 {
			t.Fatalf("start: %v %+v", err, got)
		}
		for _, sc := range got {
			if want := map[string]string{TypeVulnerability: "", TypeCompliance: "cis_level1_server"}[sc.Type]; sc.Profile != want {
				t.Errorf("%s scan profile %q, want %q", sc.Type, sc.Profile, want)
			}
		}
		if p := profileOf("s1"); p[TypeCompliance] != "cis_level1_server" || p[TypeVulnerability] != "" || len(p) != 2 {
			t.Errorf("commands of a request: %v", p)
		}

		sc, err := s.CreateSchedule(ctx, ScheduleInput{Name: "pci", Cron: "@every 1h", Filter: NodeFilter{Kind: "host", SensorID: "s2"},
			Types: []string{TypeCompliance}, Profile: "pci-dss"}, "a")
		if err != nil || sc.Profile != "pci-dss" {
			t.Fatalf("schedule: %v %+v", err, sc)
		}
		if all, _ := s.Schedules(ctx); len(all) != 1 || all[0].Profile != "pci-dss" {
			t.Errorf("schedules %+v", all)
		}
		if _, err := s.CreateSchedule(ctx, ScheduleInput{Name: "x", Cron: "@daily", Profile: "pci-dss"}, "a"); err == nil {
			t.Error("a vulnerability schedule with a profile accepted")
		}
		clk.Advance(2 * time.Hour)
		if n, err := s.RunDueSchedules(ctx); n != 1 || err != nil {
			t.Fatalf("due schedule made %d scans: %v", n, err)
		}
		if p := profileOf("s2"); p[TypeCompliance] != "pci-dss" {
			t.Errorf("commands of a schedule: %v", p)
		}

		if err := s.PutSettings(ctx, Settings{AutoScanHosts: true, AutoScanProfile: "standard"}); err == nil {
			t.Error("an auto-scan profile without compliance scans accepted")
		}
		if err := s.PutSettings(ctx, Settings{AutoScanHosts: true, AutoScanTypes: []string{TypeCompliance}, AutoScanProfile: "standard"}); err != nil {
			t.Fatal(err)
		}
		if err := s.NodesAppeared(ctx, "h3"); err != nil {
			t.Fatal(err)
		}
		if p := profileOf("s3"); p[TypeCompliance] != "standard" || len(p) != 1 {
			t.Errorf("commands of auto-scan: %v", p)
		}
	})
}
