package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/store"
)

func TestTopologyFirstLastSeen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		t0 := clk.Now()
		nodes, err := s.UpsertNodes(ctx, []store.Node{
			{Kind: "host", Key: "machine-id-1", Name: "web1", Attrs: json.RawMessage(`{"os":"debian"}`)},
			{Kind: "process", Key: "machine-id-1/42", Name: "nginx"},
		}, t0)
		if err != nil {
			t.Fatal(err)
		}
		host, proc := nodes[0], nodes[1]
		if host.ID == "" || !host.FirstSeen.Equal(t0) || !host.LastSeen.Equal(t0) {
			t.Fatalf("new host = %+v", host)
		}
		if err := s.UpsertEdges(ctx, []store.Edge{{SrcID: host.ID, DstID: proc.ID, Kind: "runs"}}, t0); err != nil {
			t.Fatal(err)
		}
		t1 := t0.Add(time.Minute)
		again, err := s.UpsertNodes(ctx, []store.Node{{Kind: "host", Key: "machine-id-1", Name: "web1.example", Attrs: json.RawMessage(`{"os":"debian 12"}`)}}, t1)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Node{ID: host.ID, Kind: "host", Key: "machine-id-1", Name: "web1.example", Attrs: json.RawMessage(`{"os":"debian 12"}`), FirstSeen: t0, LastSeen: t1}
		if diff := cmp.Diff(want, again[0]); diff != "" {
			t.Errorf("re-seen host (-want +got):\n%s", diff)
		}
		// A late report from before t1 does not rewind last_seen.
		late, err := s.UpsertNodes(ctx, []store.Node{{Kind: "host", Key: "machine-id-1", Name: "web1.example"}}, t0.Add(time.Second))
		if err != nil || !late[0].LastSeen.Equal(t1) {
			t.Errorf("late report: %+v, %v; want last seen %v", late, err, t1)
		}
		if err := s.UpsertEdges(ctx, []store.Edge{{SrcID: host.ID, DstID: proc.ID, Kind: "runs"}}, t1); err != nil {
			t.Fatal(err)
		}
		edges, err := s.EdgesFrom(ctx, host.ID)
		if err != nil || len(edges) != 1 || !edges[0].FirstSeen.Equal(t0) || !edges[0].LastSeen.Equal(t1) {
			t.Errorf("edges = %+v, %v", edges, err)
		}
		if err := s.UpsertEdges(ctx, []store.Edge{{SrcID: host.ID, DstID: "missing", Kind: "runs"}}, t1); err == nil {
			t.Error("edge to a missing node accepted")
		}
		if _, err := s.UpsertNodes(ctx, []store.Node{{Kind: "host", Key: "k", Attrs: json.RawMessage(`{bad`)}}, t1); err == nil {
			t.Error("invalid attrs accepted")
		}
		hosts, _, err := s.Nodes(ctx, "host", t1, store.Page{})
		if err != nil || len(hosts) != 1 || hosts[0].ID != host.ID {
			t.Errorf("hosts seen since t1 = %+v, %v", hosts, err)
		}
		all, _, err := s.Nodes(ctx, "", time.Time{}, store.Page{})
		if err != nil || len(all) != 2 {
			t.Errorf("all nodes = %d, %v", len(all), err)
		}
	})
}
