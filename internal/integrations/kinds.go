package integrations

import (
	"github.com/riskmap/riskmap/internal/integrations/dest"
	"github.com/riskmap/riskmap/internal/integrations/elastic"
	"github.com/riskmap/riskmap/internal/integrations/email"
	"github.com/riskmap/riskmap/internal/integrations/jira"
	"github.com/riskmap/riskmap/internal/integrations/pagerduty"
	"github.com/riskmap/riskmap/internal/integrations/s3"
	"github.com/riskmap/riskmap/internal/integrations/slack"
	"github.com/riskmap/riskmap/internal/integrations/splunk"
	"github.com/riskmap/riskmap/internal/integrations/sumologic"
	"github.com/riskmap/riskmap/internal/integrations/teams"
	"github.com/riskmap/riskmap/internal/integrations/webhook"
)

// Kinds is THE list of destination kinds, in the order the UI offers them.
// Adding a destination is one package below internal/integrations
// exporting `func Kind() dest.Kind` and one line here.
func Kinds() []dest.Kind {
	return []dest.Kind{
		slack.Kind(),
		teams.Kind(),
		pagerduty.Kind(),
		jira.Kind(),
		splunk.Kind(),
		elastic.Kind(),
		sumologic.Kind(),
		s3.Kind(),
		email.Kind(),
		webhook.Kind(),
	}
}
