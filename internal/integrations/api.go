package integrations

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
)

// jsonBodyLimit bounds the API's request bodies (a CA bundle is the
// largest member).
const jsonBodyLimit = 256 << 10

// Routes registers the integrations API (console.Module). Every signed-in
// user may read it (destinations without their secrets, rules, history,
// dead letters); admins change it, test-send and retry (the policy table
// in internal/console).
func (s *Service) Routes(api huma.API, _ chi.Router) {
	op := func(method, path, id, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"integrations"}, MaxBodyBytes: jsonBodyLimit}
	}
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/kinds", "list-integration-kinds", "Destination kinds and their settings forms"), s.apiKinds)
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/destinations", "list-destinations", "Destinations with their delivery status (secrets only as set or not)"), s.apiDestinations)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/integrations/destinations", "create-destination", "Add a destination (its secrets are stored encrypted)")), s.apiCreate)
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/destinations/{id}", "get-destination", "One destination"), s.apiGet)
	huma.Register(api, op(http.MethodPut, "/api/v1/integrations/destinations/{id}", "update-destination", "Change a destination (absent members and empty secrets keep their values)"), s.apiUpdate)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/integrations/destinations/{id}", "delete-destination", "Delete a destination, its rules, outbox, history and dead letters")), s.apiDelete)
	huma.Register(api, op(http.MethodPost, "/api/v1/integrations/destinations/{id}/test", "test-destination", "Send a test message now and say how it went"), s.apiTest)
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/destinations/{id}/deliveries", "list-deliveries", "A destination's delivery history, newest first"), s.apiDeliveries)
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/destinations/{id}/dead", "list-dead-letters", "A destination's dead letters, oldest first"), s.apiDead)
	huma.Register(api, op(http.MethodPost, "/api/v1/integrations/destinations/{id}/dead/retry", "retry-dead-letters", "Queue dead letters again (the ids given, or all)"), s.apiRetry)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/integrations/destinations/{id}/dead/{deadId}", "discard-dead-letter", "Discard a dead letter")), s.apiDiscard)
	huma.Register(api, op(http.MethodGet, "/api/v1/integrations/rules", "list-rules", "Rules (of one destination with destinationId)"), s.apiRules)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/integrations/rules", "create-rule", "Add a rule: which events go to a destination, filtered, at once or in digests")), s.apiCreateRule)
	huma.Register(api, op(http.MethodPut, "/api/v1/integrations/rules/{id}", "update-rule", "Replace a rule's settings"), s.apiUpdateRule)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/integrations/rules/{id}", "delete-rule", "Delete a rule")), s.apiDeleteRule)
}

func (s *Service) httpError(ctx context.Context, what string, err error) error {
	return console.Error(ctx, s.log, what, err)
}

type (
	bodyOf[T any] struct {
		Body T
	}
	list[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"nextCursor,omitempty"`
	}
	idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	pageIn struct {
		ID     string `path:"id" maxLength:"64"`
		Cursor string `query:"cursor" maxLength:"64"`
		Limit  int    `query:"limit" minimum:"0" maximum:"500"`
	}
	updateIn struct {
		ID   string `path:"id" maxLength:"64"`
		Body DestinationInput
	}
	retryIn struct {
		ID   string `path:"id" maxLength:"64"`
		Body struct {
			IDs []string `json:"ids,omitempty" maxItems:"1000" doc:"Dead letters to retry; all of the destination's when absent"`
		}
	}
	retryOut struct {
		Retried int `json:"retried"`
	}
	discardIn struct {
		ID     string `path:"id" maxLength:"64"`
		DeadID string `path:"deadId" maxLength:"64"`
	}
	rulesIn struct {
		DestinationID string `query:"destinationId" maxLength:"64"`
	}
	ruleUpdateIn struct {
		ID   string `path:"id" maxLength:"64"`
		Body RuleInput
	}
)

func (s *Service) apiKinds(ctx context.Context, _ *struct{}) (*bodyOf[list[KindInfo]], error) {
	return &bodyOf[list[KindInfo]]{list[KindInfo]{Items: s.KindInfos()}}, nil
}

func (s *Service) apiDestinations(ctx context.Context, _ *struct{}) (*bodyOf[list[Destination]], error) {
	ds, err := s.Destinations(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "list destinations", err)
	}
	return &bodyOf[list[Destination]]{list[Destination]{Items: ds}}, nil
}

func (s *Service) apiCreate(ctx context.Context, in *bodyOf[DestinationInput]) (*bodyOf[Destination], error) {
	d, err := s.CreateDestination(ctx, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "create destination", err)
	}
	return &bodyOf[Destination]{d}, nil
}

func (s *Service) apiGet(ctx context.Context, in *idPath) (*bodyOf[Destination], error) {
	d, err := s.Destination(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "get destination", err)
	}
	return &bodyOf[Destination]{d}, nil
}

func (s *Service) apiUpdate(ctx context.Context, in *updateIn) (*bodyOf[Destination], error) {
	d, err := s.UpdateDestination(ctx, in.ID, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "update destination", err)
	}
	return &bodyOf[Destination]{d}, nil
}

func (s *Service) apiDelete(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.DeleteDestination(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, "delete destination", err)
	}
	return nil, nil
}

func (s *Service) apiTest(ctx context.Context, in *idPath) (*bodyOf[TestResult], error) {
	r, err := s.Test(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "test destination", err)
	}
	return &bodyOf[TestResult]{r}, nil
}

func (s *Service) apiDeliveries(ctx context.Context, in *pageIn) (*bodyOf[list[Delivery]], error) {
	ds, next, err := s.Deliveries(ctx, in.ID, Page{Before: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.httpError(ctx, "delivery history", err)
	}
	return &bodyOf[list[Delivery]]{list[Delivery]{Items: ds, NextCursor: next}}, nil
}

func (s *Service) apiDead(ctx context.Context, in *pageIn) (*bodyOf[list[DeadLetter]], error) {
	ds, next, err := s.DeadLetters(ctx, in.ID, Page{Before: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.httpError(ctx, "dead letters", err)
	}
	return &bodyOf[list[DeadLetter]]{list[DeadLetter]{Items: ds, NextCursor: next}}, nil
}

func (s *Service) apiRetry(ctx context.Context, in *retryIn) (*bodyOf[retryOut], error) {
	n, err := s.RetryDead(ctx, in.ID, in.Body.IDs)
	if err != nil {
		return nil, s.httpError(ctx, "retry dead letters", err)
	}
	return &bodyOf[retryOut]{retryOut{Retried: n}}, nil
}

func (s *Service) apiDiscard(ctx context.Context, in *discardIn) (*struct{}, error) {
	if err := s.DiscardDead(ctx, in.ID, in.DeadID); err != nil {
		return nil, s.httpError(ctx, "discard dead letter", err)
	}
	return nil, nil
}

func (s *Service) apiRules(ctx context.Context, in *rulesIn) (*bodyOf[list[Rule]], error) {
	rs, err := s.Rules(ctx, in.DestinationID)
	if err != nil {
		return nil, s.httpError(ctx, "list rules", err)
	}
	return &bodyOf[list[Rule]]{list[Rule]{Items: rs}}, nil
}

func (s *Service) apiCreateRule(ctx context.Context, in *bodyOf[RuleInput]) (*bodyOf[Rule], error) {
	r, err := s.CreateRule(ctx, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "create rule", err)
	}
	return &bodyOf[Rule]{r}, nil
}

func (s *Service) apiUpdateRule(ctx context.Context, in *ruleUpdateIn) (*bodyOf[Rule], error) {
	r, err := s.UpdateRule(ctx, in.ID, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "update rule", err)
	}
	return &bodyOf[Rule]{r}, nil
}

func (s *Service) apiDeleteRule(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.DeleteRule(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, "delete rule", err)
	}
	return nil, nil
}
