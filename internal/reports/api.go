package reports

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
)

type (
	bodyOf[T any] struct {
		Body T
	}
	list[T any] struct {
		Items []T `json:"items"`
	}
	idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
)

// Routes registers the scheduled reports API (console.Module).
func (s *Service) Routes(api huma.API, _ chi.Router) {
	op := func(method, path, id, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"reports"}, MaxBodyBytes: 1 << 16}
	}
	created := op(http.MethodPost, "/api/v1/report-schedules", "create-report-schedule",
		"ReportSchedule a findings report (PDF, XLSX or CSV of a scope and filters) daily or weekly to an email or S3 destination")
	created.DefaultStatus = http.StatusCreated
	deleted := op(http.MethodDelete, "/api/v1/report-schedules/{id}", "delete-report-schedule", "Remove a scheduled report")
	deleted.DefaultStatus = http.StatusNoContent
	huma.Register(api, op(http.MethodGet, "/api/v1/report-schedules", "list-report-schedules", "Scheduled findings reports with their last outcome"),
		func(ctx context.Context, _ *struct{}) (*bodyOf[list[ReportSchedule]], error) {
			got, err := s.List(ctx)
			if err != nil {
				return nil, console.Error(ctx, s.log, "list report schedules", err)
			}
			return &bodyOf[list[ReportSchedule]]{list[ReportSchedule]{Items: got}}, nil
		})
	huma.Register(api, created, func(ctx context.Context, in *bodyOf[ReportScheduleInput]) (*bodyOf[ReportSchedule], error) {
		sc, err := s.Create(ctx, in.Body, caller(ctx))
		if err != nil {
			return nil, console.Error(ctx, s.log, "create report schedule", err)
		}
		return &bodyOf[ReportSchedule]{sc}, nil
	})
	huma.Register(api, deleted, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if err := s.Delete(ctx, in.ID); err != nil {
			return nil, console.Error(ctx, s.log, "delete report schedule", err)
		}
		return nil, nil
	})
	huma.Register(api, op(http.MethodPost, "/api/v1/report-schedules/{id}/run", "run-report-schedule", "Make and deliver a scheduled report now"),
		func(ctx context.Context, in *idPath) (*bodyOf[ReportSchedule], error) {
			sc, err := s.Run(ctx, in.ID)
			if err != nil && sc.ID == "" {
				return nil, console.Error(ctx, s.log, "run report schedule", err)
			}
			return &bodyOf[ReportSchedule]{sc}, nil // a failed delivery is the schedule's lastError
		})
}

func caller(ctx context.Context) string {
	if p, ok := console.PrincipalFrom(ctx); ok {
		return p.User.Email
	}
	return ""
}
