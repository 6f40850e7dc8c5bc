// Package provider is the contract between the registries module
// (accounts, catalogue sync jobs, scans by digest: package registries)
// and the registry providers it talks to: Docker Hub, Amazon ECR, Google
// Artifact Registry and GCR, Azure Container Registry, Harbor, Quay,
// GitLab, JFrog Artifactory and any registry speaking the OCI distribution
// spec, each in its own package below internal/registries/provider and
// registered by name in one list (registries.Kinds).
//
// A provider authenticates and lists: repositories, and the tags of a
// repository with what its API knows of them (digest, push time, size).
// Pulling manifests and layers is the module's, through
// go-containerregistry with the provider's Authenticator, so every
// provider's images are read the same way. A provider never reads the
// database.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/riskmap/riskmap/internal/fields"
)

// Account is one configured registry account as a provider sees it.
type Account struct {
	Name string
	// Settings are the plain settings of the kind's Fields; Secrets the
	// secret ones, opened from the vault just before New.
	Settings map[string]string
	Secrets  map[string]string
	// HTTP is the client for the provider's API and token endpoints (TLS
	// verified; the account's extra CA when configured). Tests give one
	// trusting their servers.
	HTTP *http.Client
	// Now is the clock for token lifetimes; nil is time.Now.
	Now func() time.Time
}

// Registry is a connected account.
type Registry interface {
	// Host is the registry host images are pulled from, as in an image
	// reference (registry-1.docker.io for Docker Hub, 123.dkr.ecr.eu-west-1.amazonaws.com,
	// myorg.azurecr.io, 127.0.0.1:5000).
	Host() string
	// Check tests the connection and the credentials (on save, and the
	// "test connection" button); its error says what failed.
	Check(ctx context.Context) error
	// Repositories lists the account's repositories (names without the
	// host), calling fn per page as the API returns them.
	Repositories(ctx context.Context, fn func(page []string) error) error
	// Tags lists a repository's tags, calling fn per page. Fill what the
	// provider's API tells; the module resolves what is missing (digest,
	// platforms) from the registry itself.
	Tags(ctx context.Context, repo string, fn func(page []Tag) error) error
	// Authenticator authorises pulls from Host (a bearer token from the
	// provider's token exchange, basic credentials, or anonymous).
	Authenticator(ctx context.Context) (authn.Authenticator, error)
}

// Tag is one tag of a repository as the provider's API describes it.
type Tag struct {
	Name string
	// Digest of the manifest or index the tag points to, if the API says.
	Digest string
	// Pushed is when the tag was last pushed, if the API says.
	Pushed time.Time
	// Size in bytes (compressed layers and config), if the API says.
	Size int64
	// MediaType of the manifest, if the API says.
	MediaType string
}

// Kind is a provider kind: its settings form and constructor.
type Kind struct {
	Name   string // dockerhub, ecr, gar, acr, harbor, quay, gitlab, jfrog, v2
	Title  string // shown in the UI
	Fields []fields.Field
	// New validates acct (errors name the setting) and returns the
	// registry. It does not contact the registry (Check does).
	New func(acct Account) (Registry, error)
}

// ErrUnauthorized is wrapped by Check, Repositories, Tags and
// Authenticator errors when the registry refused the credentials.
var ErrUnauthorized = errors.New("the registry refused the credentials")

// ErrForbidden is wrapped when the registry knows the credentials but
// they may not do what was asked (a missing permission or scope). It is
// also ErrUnauthorized.
var ErrForbidden = fmt.Errorf("%w: signed in, but without the permission", ErrUnauthorized)

// ErrUnavailable is wrapped when the registry or its API could not be
// reached or answered 5xx/429: a sync may be retried later.
var ErrUnavailable = errors.New("the registry is unavailable")
