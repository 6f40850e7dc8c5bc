package sensor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/riskmap/riskmap/internal/compliance"
	"github.com/riskmap/riskmap/internal/compliance/dockerbench"
	"github.com/riskmap/riskmap/internal/compliance/kubebench"
	"github.com/riskmap/riskmap/internal/sensor/command"
	"github.com/riskmap/riskmap/internal/sensorproto"
)

// Compliance profiles of the CIS benchmarks the sensor checks without
// OpenSCAP: the compliance engine routes a scan command with one of these
// profiles to ScanCISKubernetes or ScanCISDocker.
const (
	ProfileCISKubernetes = kubebench.Benchmark   // "cis-kubernetes"
	ProfileCISDocker     = dockerbench.Benchmark // "cis-docker"
)

// ScanCISKubernetes runs the CIS Kubernetes benchmark on this node with
// kube-bench (a compliance scan of the host): the targets are those of the
// components running here (master with a kube-apiserver, node with a
// kubelet; Config.KubeBench.Targets overrides), its configuration files
// are read under the sensor's host root, and kube-bench's report is the
// raw document. It has the compliance engines' signature
// (command.EngineFunc).
func (s *Sensor) ScanCISKubernetes(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	if target.Kind != "host" {
		return nil, fmt.Errorf("CIS Kubernetes benchmark: target kind %q (the sensor checks its own node: host)", target.Kind)
	}
	cfg := kubebench.DefaultConfig()
	k := s.cfg.KubeBench
	if k.Binary != "" {
		cfg.Binary = k.Binary
	}
	if k.ConfigDir != "" {
		cfg.ConfigDir = k.ConfigDir
	}
	if k.Benchmark != "" {
		cfg.Benchmark = k.Benchmark
	}
	if k.Timeout > 0 {
		cfg.Timeout = k.Timeout
	}
	cfg.Env, cfg.Targets, cfg.Overrides, cfg.HostRoot = k.Env, k.Targets, k.Overrides, k.HostRoot
	if cfg.HostRoot == "" {
		// The node's files under the sensor's view of the host root.
		cfg.HostRoot = s.cfg.HostRoot
	}
	if len(cfg.Targets) == 0 {
		targets, overrides := kubebench.Detect(os.DirFS(s.cfg.ProcRoot))
		if len(targets) == 0 {
			return nil, errors.New("CIS Kubernetes benchmark: no Kubernetes component (kube-apiserver, kubelet) runs on this node")
		}
		cfg.Targets = targets
		if cfg.Overrides == nil {
			cfg.Overrides = overrides
		}
	}
	progress(0.05)
	res, err := kubebench.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("CIS Kubernetes benchmark: %w", err)
	}
	progress(1)
	return res, nil
}

// ScanCISDocker checks this node's Docker engine against the CIS Docker
// Benchmark: the daemon and every running container (target host), or the
// daemon and one container (target container, by id or name). It has the
// compliance engines' signature (command.EngineFunc).
func (s *Sensor) ScanCISDocker(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
	if s.cfg.DockerHost == "off" {
		return nil, errors.New("CIS Docker benchmark: the sensor's Docker probe is off")
	}
	cfg := dockerbench.Config{Host: s.cfg.DockerHost, HostFS: os.DirFS(s.cfg.HostRoot), ProcFS: os.DirFS(s.cfg.ProcRoot)}
	switch target.Kind {
	case "host":
	case "container":
		cfg.Container = target.Ref
		if c, ok := s.container(target.Ref); ok {
			cfg.Container = c.ID
		}
	default:
		return nil, fmt.Errorf("CIS Docker benchmark: target kind %q (host or container)", target.Kind)
	}
	progress(0.05)
	res, err := dockerbench.Scan(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("CIS Docker benchmark: %w", err)
	}
	progress(1)
	return res, nil
}

// ComplianceEngine is the sensor's compliance scan engine (scan type
// compliance): the command's profile picks the engine, cis-kubernetes
// kube-bench, cis-docker the CIS Docker checks, any other (standard, CIS
// levels, PCI-DSS...) OpenSCAP with the SCAP Security Guide content. Each
// engine is on when what it needs is here (oscap and its content;
// kube-bench; the Docker probe); notes say which are on and, for those
// off, why. nil when none is on: the sensor then does not declare the
// type.
func (s *Sensor) ComplianceEngine(ctx context.Context, cfg ComplianceConfig) (command.EngineFunc, []string) {
	var notes []string
	oscapEngine, err := s.Compliance(ctx, cfg)
	if err != nil {
		notes = append(notes, "OpenSCAP off: "+err.Error())
	} else {
		notes = append(notes, "OpenSCAP on, content "+oscapEngine.ContentDir())
	}
	kube := s.cfg.KubeBench.Binary
	if kube == "" {
		kube = kubebench.DefaultConfig().Binary
	}
	_, kubeErr := exec.LookPath(kube)
	if kubeErr != nil {
		notes = append(notes, "CIS Kubernetes off: kube-bench not found ("+kubeErr.Error()+")")
	} else {
		notes = append(notes, "CIS Kubernetes on")
	}
	docker := s.cfg.DockerHost != "off"
	if docker {
		notes = append(notes, "CIS Docker on")
	} else {
		notes = append(notes, "CIS Docker off: the Docker probe is off")
	}
	if oscapEngine == nil && kubeErr != nil && !docker {
		return nil, notes
	}
	return func(ctx context.Context, target sensorproto.CommandTarget, progress func(float64)) (*sensorproto.Results, error) {
		cmd, _ := command.CommandOf(ctx)
		switch cmd.Profile {
		case ProfileCISKubernetes:
			if kubeErr != nil {
				return nil, fmt.Errorf("CIS Kubernetes benchmark: kube-bench is not installed on this node (%w)", kubeErr)
			}
			return s.ScanCISKubernetes(ctx, target, progress)
		case ProfileCISDocker:
			if !docker {
				return nil, errors.New("CIS Docker benchmark: the sensor's Docker probe is off")
			}
			return s.ScanCISDocker(ctx, target, progress)
		}
		if oscapEngine == nil {
			return nil, fmt.Errorf("compliance profile %q needs OpenSCAP, which this sensor cannot run: %s (the cis-docker and cis-kubernetes profiles need no OpenSCAP)", cmp.Or(cmd.Profile, compliance.DefaultProfile), err)
		}
		return oscapEngine.ScanCompliance(ctx, target, progress)
	}, notes
}
