// Package deploytest holds the packaging tests (its _test.go files): the
// container images of deploy/Dockerfile built without a registry, the
// Compose file deploy/docker-compose.yml started with them (a sensor
// reports, the UI answers), the Helm charts of deploy/helm rendered with
// helm and applied to a real kube-apiserver, `make release` and the
// systemd units. See docs/deploy.md.
package deploytest
