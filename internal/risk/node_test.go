package risk

import (
	"math"
	"testing"
)

func TestScoreOnNode(t *testing.T) {
	target := Hop{NodeID: "c1", Kind: "container", Name: "web"}
	listener := Process{PID: 7, Name: "app", Listening: []Endpoint{{Proto: "tcp", Addr: "0.0.0.0", Port: 8080}}}
	idle := Process{PID: 9, Name: "cron"}
	loopback := Process{PID: 8, Name: "redis", Listening: []Endpoint{{Proto: "tcp", Addr: "127.0.0.1", Port: 6379}}}
	internetPath := []Hop{{Kind: "internet", Name: "The Internet"}, {NodeID: "h1", Kind: "host", Name: "h1"}, target}
	key := Subject{Kind: "secret", Name: "aws-access-token in /app/.env:3", Severity: "critical"}
	noSev := Subject{Kind: "secret", Name: "generic-api-key in /etc/x:1"}
	mal := Subject{Kind: "malware", Name: "EICAR in /tmp/eicar.com"}
	tests := []struct {
		name      string
		s         Subject
		ex        Exposure
		wantScore float64
		wantX     float64
		wantPath  int
	}{
		{"unknown_topology", key, Exposure{}, 9.5 * 0.8 * 0.5 * 10, ExposureUnknown, 0},
		{"no_process", key, Exposure{Known: true}, 9.5 * 0.8 * 0.25 * 10, ExposureUnused, 0},
		{"running_not_listening", key, Exposure{Known: true, Processes: []Process{idle}}, 9.5 * 0.8 * 0.5 * 10, ExposureInUse, 0},
		{"loopback_only", key, Exposure{Known: true, Processes: []Process{idle, loopback}}, 9.5 * 0.8 * 0.55 * 10, ExposureLocal, 3},
		// Any listening process of the node exposes the secret, whatever
		// files it loads.
		{"listening", key, Exposure{Known: true, Processes: []Process{idle, listener}}, 9.5 * 0.8 * 0.75 * 10, ExposureListening, 3},
		{"internet", key, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{listener}}, 9.5 * 0.8 * 10, ExposureInternet, 5},
		{"default_severity_high", noSev, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{listener}}, 8 * 0.8 * 10, ExposureInternet, 5},
		{"malware_critical", mal, Exposure{Known: true, Processes: []Process{listener}}, 9.5 * 1 * 0.75 * 10, ExposureListening, 3},
		{"image_not_deployed", key, Exposure{NotDeployed: true}, 9.5 * 0.8 * 0.15 * 10, ExposureNotDeployed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreOnNode(tt.s, tt.ex, target)
			if math.Abs(r.Score-math.Round(tt.wantScore*10)/10) > 0.05 {
				t.Errorf("score %.1f, want %.1f (%+v)", r.Score, tt.wantScore, r.Factors)
			}
			if len(r.Factors) != 3 || r.Factors[2].Value != tt.wantX {
				t.Errorf("exposure factor %+v, want %v", r.Factors, tt.wantX)
			}
			for _, f := range r.Factors {
				if f.Reason == "" {
					t.Errorf("factor %s unexplained", f.Name)
				}
			}
			if len(r.Path) != tt.wantPath {
				t.Errorf("path %+v, want %d hops", r.Path, tt.wantPath)
			}
			if tt.wantPath > 0 && r.Path[len(r.Path)-1].Kind != tt.s.Kind {
				t.Errorf("path ends at %+v, want the %s", r.Path[len(r.Path)-1], tt.s.Kind)
			}
		})
	}
	// A secret on an internet-facing node outranks the same secret on a
	// node whose processes only run.
	exposed := ScoreOnNode(key, Exposure{Known: true, Internet: true, Path: internetPath, Processes: []Process{listener}}, target)
	quiet := ScoreOnNode(key, Exposure{Known: true, Processes: []Process{idle}}, target)
	if exposed.Score <= quiet.Score {
		t.Errorf("exposed %.1f <= quiet %.1f", exposed.Score, quiet.Score)
	}
}
