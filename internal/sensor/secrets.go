package sensor

import (
	"context"
	"fmt"
	"strings"

	"github.com/riskmap/riskmap/internal/secretscan"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// secretEngine names the detector in a secret scan's results.
var secretEngine = sensorproto.Engine{Name: "gitleaks", Version: "v8.30.1"}

// ScanSecrets runs a secret scan command (scan type secret) on this node
// with the same detector and readers as `riskmap scan --scanners secret`:
//   - host: the host's root filesystem (HostRoot) without pseudo
//     filesystems and runtime stores (the inventory scan's hostSkip);
//   - container: a running container's root through /proc/PID/root, a
//     stopped Docker container through the engine;
//   - image: an image of the Docker engine, layer by layer.
//
// The results hold each secret's rule, file, line, layer, entropy,
// fingerprint and a redacted excerpt; never the secret.
func (s *Sensor) ScanSecrets(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	var skip []string
	switch target.Kind {
	case "host":
		skip = hostSkip
	case "container":
		skip = containerSkip
	}
	globs := make([]string, 0, len(skip))
	for _, d := range skip {
		globs = append(globs, "/"+d)
	}
	allow, err := secretscan.NewAllow(globs, nil, nil)
	if err != nil {
		return nil, err
	}
	cfg := secretscan.DefaultConfig()
	cfg.Allow, cfg.Logger = allow, s.cfg.Logger
	sc, err := secretscan.New(cfg)
	if err != nil {
		return nil, err
	}
	progress(0.05)
	opts := secretscan.TargetOptions{DockerHost: s.cfg.DockerHost}
	res, err := scanFiles(ctx, s, target, sc.ScanDir, func(ctx context.Context, ref string) (*secretscan.Result, error) {
		return sc.ScanTarget(ctx, ref, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("secret scan of %s %s: %w", target.Kind, target.Ref, err)
	}
	out := &sensorproto.Results{Type: sensorproto.ScanSecret, Engine: secretEngine, Files: int(res.Files),
		Skipped: int(res.Binary) + len(res.Skipped), Errors: len(res.Errors)}
	out.Engine.RulesSet = fmt.Sprintf("gitleaks default (%d rules)", sc.Rules())
	for _, f := range res.Findings {
		out.Secrets = append(out.Secrets, sensorproto.SecretFinding{Rule: f.RuleID, Description: f.Description, Severity: f.Severity,
			File: f.Path, Line: f.Line, Layer: f.Layer, Entropy: f.Entropy, Fingerprint: f.Fingerprint,
			Excerpt: strings.TrimSuffix(f.Redacted, "****") + sensorproto.RedactionMark})
	}
	progress(1)
	return out, nil
}
