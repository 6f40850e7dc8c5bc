package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/riskmap/riskmap/internal/compliance/dockerbench"
	"github.com/riskmap/riskmap/internal/compliance/kubebench"
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
