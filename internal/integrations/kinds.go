package integrations

import (
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
)

// Kinds is THE list of destination kinds. Adding a destination is one
// package below internal/integrations exporting `func Kind() dest.Kind`
// and one line here.
func Kinds() []dest.Kind {
	return []dest.Kind{
		webhook.Kind(),
	}
}
