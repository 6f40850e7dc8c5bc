package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/report"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// TestAnswersMatchOpenAPI walks the typed API's GET routes on a console
// with a host, its processes and a container on the map, a scan and a
// user, and has client.do check every answer against the OpenAPI
// document (checkAnswer): an array the document promises must never come
// back as null.
func TestAnswersMatchOpenAPI(t *testing.T) {
	e := start(t)
	admin, _ := e.registerAdmin()
	key, sensorID := e.enrol(admin, "answers-host")
	r := &report.Report{Version: report.Version, SensorID: sensorID, RunID: "run-answers", SensorVersion: "test", Kind: report.KindFull,
		IntervalSeconds: 60, Time: e.clk.Now(),
		Host: &report.Host{Hostname: "answers-host", OS: report.OS{ID: "debian", VersionID: "12"}, Arch: "amd64", CPUs: 2,
			Interfaces: []report.Interface{{Name: "eth0", Up: true, Addrs: []string{"192.0.2.10/24"}}}},
		Containers: []report.Container{{ID: strings.Repeat("c", 64), Runtime: "docker", Name: "web", Image: "nginx:1.27", State: "running", PID: 2000}},
		Processes: []report.Process{
			{PID: 1000, PPID: 1, StartTicks: 10, Name: "sshd", Exe: "/usr/sbin/sshd", User: "root"},
			{PID: 2000, PPID: 1, StartTicks: 20, Name: "nginx", Exe: "/usr/sbin/nginx", User: "root", Cmdline: []string{"nginx"}},
		}}
	gz, err := report.Marshal(report.NewTracker(report.DefaultFullEvery).Next(r), report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := e.raw("POST", sensorproto.PathReports, key, map[string]string{"Content-Encoding": "gzip"}, gz); code/100 != 2 {
		t.Fatalf("report: %d %s", code, body)
	}
	var started struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	admin.must(http.StatusCreated, "POST", "/api/v1/scans", map[string]any{"targets": []map[string]string{{"sensorId": sensorID, "kind": "host", "ref": ""}}}, &started)

	type graph struct {
		Nodes []struct {
			ID string `json:"id"`
		} `json:"nodes"`
	}
	var procs graph
	deadline := time.Now().Add(20 * time.Second)
	for {
		admin.must(http.StatusOK, "GET", "/api/v1/topology/graph?view=processes", nil, &procs)
		if len(procs.Nodes) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(procs.Nodes) < 2 {
		t.Fatalf("the processes view holds %d nodes; want the report's 2", len(procs.Nodes))
	}
	var hosts, containers graph
	admin.must(http.StatusOK, "GET", "/api/v1/topology/graph?view=hosts", nil, &hosts)
	admin.must(http.StatusOK, "GET", "/api/v1/topology/graph?view=containers", nil, &containers)
	nodes := append(append(procs.Nodes, hosts.Nodes...), containers.Nodes...)

	checked := 0
	get := func(path string) {
		t.Helper()
		if r := admin.do("GET", path, nil); r.status == http.StatusOK {
			checked++
		}
	}
	oapi := e.srv.API().OpenAPI()
	for path, item := range oapi.Paths {
		if item.Get == nil || strings.Contains(path, "{") {
			continue
		}
		get(path)
	}
	for _, n := range nodes {
		get("/api/v1/topology/nodes/" + url.PathEscape(n.ID))
		get("/api/v1/compliance/profiles?nodeId=" + url.QueryEscape(n.ID))
	}
	for _, v := range []string{"hosts", "containers", "images", "processes", "pods"} {
		get("/api/v1/topology/graph?view=" + v)
		for _, g := range []string{"host", "namespace", "image", "cluster", "cloud", "region"} {
			get(fmt.Sprintf("/api/v1/topology/graph?view=%s&group=%s", v, g))
		}
	}
	get("/api/v1/topology/graph?view=processes&host=answers-host")
	get("/api/v1/scans/" + started.Items[0].ID)
	get("/api/v1/findings/groups?by=package")
	get("/api/v1/findings/groups?by=vulnerability")
	if checked < 60 {
		t.Errorf("%d answers checked; want the walk to reach at least 60", checked)
	}
}
