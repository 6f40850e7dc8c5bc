package threatgraph_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/findings"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
	"github.com/riskmap/riskmap/internal/topology"
)

// TestMapRisk (here for the fixture the threat graph tests share: a real
// topology and stored findings) checks the map's risk end to end on SQLite and PostgreSQL,
// with the modules composed as the console composes them (the findings
// are the topology's RiskSource): the findings' NodeRisk counts current
// findings of every type per node (a decided one left out), and the
// graph gives each node the sum of what it stands for (the hosts view:
// a host and its containers; the processes view: a process carries its
// container's, or its host's) with the worst severity.
func TestMapRisk(t *testing.T) {
	for name, dbURL := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx, st, topo, fs := shopEstate(t, dbURL(t))
			topo.SetRiskSource(fs)
			web := topology.ContainerNodeID("kn-shop", "containerd", "k8s.io", "cweb")
			api := topology.ContainerNodeID("kn-shop", "containerd", "k8s.io", "capi")
			host := topology.HostNodeID("kn-shop")
			batch := topology.HostNodeID("batch-1")
			storeFindings(t, st, fs, web,
				fnd{id: "CVE-2024-0001", pkg: "libssl3", sev: "critical", kev: true},
				fnd{id: "CVE-2024-0002", pkg: "zlib", sev: "high"},
				fnd{id: "CVE-2024-0004", pkg: "curl", sev: "medium"})
			storeFindings(t, st, fs, api, fnd{id: "CVE-2024-0005", pkg: "glibc", sev: "low"})
			storeFindings(t, st, fs, batch, fnd{id: "CVE-2024-0006", pkg: "libssl3", sev: "medium"})
			// A secret scan of the web container: one secret.
			o := findings.Origin{ScanID: "scan-secret-web", Type: findings.TypeSecret, Key: "node:" + web + "#secret",
				Target: findings.Target{NodeID: web, SensorID: "s", Kind: "container", Ref: web}}
			rows := fs.ResultRows(ctx, o, &sensorproto.Results{Secrets: []sensorproto.SecretFinding{
				{Rule: "aws-access-token", Severity: "high", File: "/srv/.env", Line: 3, Fingerprint: "fp1"}}})
			if err := st.Tx(ctx, func(tx store.Querier) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO scans (id, target_kind, target_ref, status, created_at) VALUES (?, 'container', ?, 'complete', 0)`, o.ScanID, web); err != nil {
					return err
				}
				if err := fs.ReplaceTx(ctx, tx, o, rows, findings.StatePending); err != nil {
					return err
				}
				return fs.CommitTx(ctx, tx, o)
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Decide(ctx, findings.DecisionInput{VulnID: "CVE-2024-0004", Status: "accepted", Reason: "not reachable code"}, "test"); err != nil {
				t.Fatal(err)
			}

			got, err := fs.NodeRisk(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for id, r := range got {
				r.MaxScore = 0 // scores are the risk engine's business
				got[id] = r
			}
			want := map[string]topology.NodeRisk{
				web:   {Critical: 1, High: 1, Secrets: 1, Worst: "critical"},
				api:   {Low: 1, Worst: "low"},
				batch: {Medium: 1, Worst: "medium"},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("NodeRisk (-want +got):\n%s", d)
			}

			g, err := topo.Graph(topology.GraphQuery{View: topology.ViewHosts, Risk: got})
			if err != nil {
				t.Fatal(err)
			}
			onMap := map[string]topology.NodeRisk{}
			for _, n := range g.Nodes {
				if n.Risk != nil {
					onMap[n.ID] = *n.Risk
				}
			}
			wantMap := map[string]topology.NodeRisk{
				host:  {Critical: 1, High: 1, Low: 1, Secrets: 1, Worst: "critical"},
				batch: {Medium: 1, Worst: "medium"},
			}
			if d := cmp.Diff(wantMap, onMap); d != "" {
				t.Errorf("hosts view risk (-want +got):\n%s", d)
			}

			// The processes view: a process carries the findings of what
			// it runs in (its container's; cron, on the batch host outside
			// containers, the host's).
			pg, err := topo.Graph(topology.GraphQuery{View: topology.ViewProcesses, Risk: got})
			if err != nil {
				t.Fatal(err)
			}
			byLabel := map[string]topology.NodeRisk{}
			for _, n := range pg.Nodes {
				if n.Kind == topology.KindProcess && n.Risk != nil {
					byLabel[n.Label] = *n.Risk
				}
			}
			wantProcs := map[string]topology.NodeRisk{
				"gunicorn": {Critical: 1, High: 1, Secrets: 1, Worst: "critical"},
				"api":      {Low: 1, Worst: "low"},
				"cron":     {Medium: 1, Worst: "medium"},
			}
			if d := cmp.Diff(wantProcs, byLabel); d != "" {
				t.Errorf("processes view risk (-want +got):\n%s", d)
			}
		})
	}
}
