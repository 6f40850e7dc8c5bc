package registries

import (
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/registries/provider/acr"
	"github.com/riskmap/riskmap/internal/registries/provider/dockerhub"
	"github.com/riskmap/riskmap/internal/registries/provider/ecr"
	"github.com/riskmap/riskmap/internal/registries/provider/gar"
	"github.com/riskmap/riskmap/internal/registries/provider/gitlab"
	"github.com/riskmap/riskmap/internal/registries/provider/harbor"
	"github.com/riskmap/riskmap/internal/registries/provider/jfrog"
	"github.com/riskmap/riskmap/internal/registries/provider/quay"
	v2 "github.com/riskmap/riskmap/internal/registries/provider/v2"
)

// Kinds is THE list of registry provider kinds, in the order the UI offers
// them. Adding a provider is one package below internal/registries/provider
// exporting `func Kind() provider.Kind` and one line here.
func Kinds() []provider.Kind {
	return []provider.Kind{
		dockerhub.Kind(),
		ecr.Kind(),
		gar.Kind(),
		acr.Kind(),
		harbor.Kind(),
		quay.Kind(),
		gitlab.Kind(),
		jfrog.Kind(),
		v2.Kind(),
	}
}
