package registries

import (
	"github.com/riskmap/riskmap/internal/registries/provider"
	v2 "github.com/riskmap/riskmap/internal/registries/provider/v2"
)

// Kinds is THE list of registry provider kinds. Adding a provider is one
// package below internal/registries/provider exporting
// `func Kind() provider.Kind` and one line here.
func Kinds() []provider.Kind {
	return []provider.Kind{
		v2.Kind(),
	}
}
