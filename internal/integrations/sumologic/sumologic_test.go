package sumologic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/desttest"
	"github.com/riskmap/riskmap/internal/integrations/fakes"
)

func newDest(t *testing.T, f *fakes.SumoLogic, settings map[string]string) dest.Destination {
	t.Helper()
	d, err := Kind().New(dest.Config{Settings: settings, Secrets: map[string]string{"url": f.SourceURL()}, HTTP: f.Client(), ConsoleURL: "https://console.example"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSend(t *testing.T) {
	f := fakes.NewSumoLogic(t)
	d := newDest(t, f, map[string]string{"category": "prod/security"})
	msgs := []dest.Message{fakes.FindingMessage(), fakes.FixedMessage(), fakes.TestMessage(), fakes.ScanFailedMessage()}
	if err := d.Send(context.Background(), msgs); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	lines := f.Lines()
	if len(lines) != 4 || f.Requests() != 1 {
		t.Fatalf("%d lines in %d requests", len(lines), f.Requests())
	}
	if l := lines[0]; l.Category != "prod/security" || l.Name != "riskmap" || l.Host != "console.example" {
		t.Errorf("metadata %+v", l)
	}
	if !strings.HasPrefix(string(lines[0].Line), `{"timestamp":"2026-12-01T09:30:00.000Z"`) {
		t.Errorf("line does not start with its timestamp: %s", lines[0].Line)
	}
	var l Line
	if err := json.Unmarshal(lines[1].Line, &l); err != nil || !l.Resolve || l.Finding == nil {
		t.Errorf("fixed line %+v %v", l, err)
	}
}

func TestSendDigest(t *testing.T) {
	f := fakes.NewSumoLogic(t)
	if err := newDest(t, f, nil).Send(context.Background(), []dest.Message{fakes.DigestMessage(10000)}); err != nil {
		t.Fatalf("Send: %v (rejected %v)", err, f.Rejected())
	}
	if n := len(f.Lines()); n != 10000 || f.Requests() < 2 {
		t.Errorf("%d lines in %d requests", n, f.Requests())
	}
}

func TestErrors(t *testing.T) {
	desttest.Failures(t, func(t *testing.T) desttest.Setup {
		f := fakes.NewSumoLogic(t)
		return desttest.Setup{Fake: f.Server, Dest: newDest(t, f, nil), Secrets: []string{"/receiver/"}}
	})
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url      string
		settings map[string]string
		want     string
	}{
		{"", nil, "url: required"},
		{"http://collectors.sumologic.com/receiver/v1/http/SECRET", nil, "url: must be https"},
		{"https://collectors.sumologic.com/receiver/v1/http/SECRET", map[string]string{"category": "a\nb"}, "category: must be one line"},
	} {
		desttest.CheckNew(t, Kind(), dest.Config{Settings: tc.settings, Secrets: map[string]string{"url": tc.url}}, tc.want, "SECRET")
	}
}
