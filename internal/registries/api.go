package registries

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
)

// Request body limits: an account's settings may carry a CA bundle or a
// service-account key (each at most fields.MaxValue); a scan request lists
// at most a thousand tags or digests.
const (
	accountBodyLimit = 512 << 10
	scanBodyLimit    = 256 << 10
)

// Routes registers the module's API (console.Module).
func (s *Service) Routes(api huma.API, _ chi.Router) {
	op := func(method, path, id, summary string, limit int64) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{"registries"}, MaxBodyBytes: limit}
	}
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/kinds", "list-registry-kinds", "Registry provider kinds and their settings forms", 0), s.apiKinds)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/accounts", "list-registry-accounts", "Registry accounts with their sync state (secrets only as set or not)", 0), s.apiAccounts)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/registries/accounts", "create-registry-account",
		"Add a registry account: the connection is tested first (unless skipTest), its secrets stored encrypted, its first sync queued", accountBodyLimit)), s.apiCreate)
	huma.Register(api, op(http.MethodPost, "/api/v1/registries/test", "test-registry-settings", "Test the connection of an account not saved yet", accountBodyLimit), s.apiTestNew)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/accounts/{id}", "get-registry-account", "One registry account", 0), s.apiAccount)
	huma.Register(api, op(http.MethodPut, "/api/v1/registries/accounts/{id}", "update-registry-account",
		"Change a registry account (absent members and empty secrets keep their values; the connection is tested again when it changed)", accountBodyLimit), s.apiUpdate)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/registries/accounts/{id}", "delete-registry-account",
		"Delete a registry account, its catalogue, sync history and secrets (the scans of its images stay)", 0)), s.apiDelete)
	huma.Register(api, op(http.MethodPost, "/api/v1/registries/accounts/{id}/test", "test-registry-account",
		"Test a saved account's connection, with the changes in the body (optional) applied but not saved", accountBodyLimit), s.apiTest)
	huma.Register(api, op(http.MethodPost, "/api/v1/registries/accounts/{id}/sync", "sync-registry-account", "Sync the account's catalogue now", 0), s.apiSync)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/accounts/{id}/syncs", "list-registry-syncs", "The account's sync history, newest first", 0), s.apiSyncs)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/repositories", "list-registry-repositories", "Repositories of the catalogues, by name", 0), s.apiRepositories)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/tags", "list-registry-tags",
		"Tags with their images (one per platform), each image's scans and the containers running it", 0), s.apiTags)
	huma.Register(api, op(http.MethodGet, "/api/v1/registries/images/{digest}", "get-registry-image", "An image or index by digest: its scans, where it runs, the tags naming it", 0), s.apiImage)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/registries/scans", "scan-registry-images",
		"Scan registry images now (by tags, digests, repository or account; images already scanned only with force)", scanBodyLimit)), s.apiScan)
}

func (s *Service) httpError(ctx context.Context, what string, err error) error {
	return console.Error(ctx, s.log, what, err)
}

type (
	idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	bodyOf[T any] struct {
		Body T
	}
	list[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"nextCursor,omitempty"`
		Total      *int   `json:"total,omitempty"`
	}
)

func (s *Service) apiKinds(ctx context.Context, _ *struct{}) (*bodyOf[list[RegistryKind]], error) {
	return &bodyOf[list[RegistryKind]]{list[RegistryKind]{Items: s.Kinds()}}, nil
}

func (s *Service) apiAccounts(ctx context.Context, _ *struct{}) (*bodyOf[list[RegistryAccount]], error) {
	got, err := s.Accounts(ctx)
	if err != nil {
		return nil, s.httpError(ctx, "list registry accounts", err)
	}
	return &bodyOf[list[RegistryAccount]]{list[RegistryAccount]{Items: got}}, nil
}

func (s *Service) apiCreate(ctx context.Context, in *bodyOf[RegistryAccountInput]) (*bodyOf[RegistryAccount], error) {
	a, err := s.Create(ctx, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "create registry account", err)
	}
	return &bodyOf[RegistryAccount]{a}, nil
}

func (s *Service) apiTestNew(ctx context.Context, in *bodyOf[RegistryAccountInput]) (*bodyOf[RegistryTestResult], error) {
	r, err := s.TestNew(ctx, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "test registry settings", err)
	}
	return &bodyOf[RegistryTestResult]{r}, nil
}

func (s *Service) apiAccount(ctx context.Context, in *idPath) (*bodyOf[RegistryAccount], error) {
	a, err := s.Account(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "get registry account", err)
	}
	return &bodyOf[RegistryAccount]{a}, nil
}

type updateIn struct {
	ID   string `path:"id" maxLength:"64"`
	Body RegistryAccountInput
}

func (s *Service) apiUpdate(ctx context.Context, in *updateIn) (*bodyOf[RegistryAccount], error) {
	a, err := s.Update(ctx, in.ID, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "update registry account", err)
	}
	return &bodyOf[RegistryAccount]{a}, nil
}

func (s *Service) apiDelete(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.Delete(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, "delete registry account", err)
	}
	return nil, nil
}

type testIn struct {
	ID   string `path:"id" maxLength:"64"`
	Body *RegistryAccountInput
}

func (s *Service) apiTest(ctx context.Context, in *testIn) (*bodyOf[RegistryTestResult], error) {
	var changes RegistryAccountInput
	if in.Body != nil {
		changes = *in.Body
	}
	r, err := s.Test(ctx, in.ID, changes)
	if err != nil {
		return nil, s.httpError(ctx, "test registry account", err)
	}
	return &bodyOf[RegistryTestResult]{r}, nil
}

func (s *Service) apiSync(ctx context.Context, in *idPath) (*bodyOf[RegistryAccount], error) {
	a, err := s.SyncNow(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, "sync registry account", err)
	}
	return &bodyOf[RegistryAccount]{a}, nil
}

type syncsIn struct {
	ID    string `path:"id" maxLength:"64"`
	Limit int    `query:"limit" minimum:"0" maximum:"500"`
}

func (s *Service) apiSyncs(ctx context.Context, in *syncsIn) (*bodyOf[list[RegistrySync]], error) {
	got, err := s.History(ctx, in.ID, in.Limit)
	if err != nil {
		return nil, s.httpError(ctx, "registry sync history", err)
	}
	return &bodyOf[list[RegistrySync]]{list[RegistrySync]{Items: got}}, nil
}

type repositoriesIn struct {
	AccountID   string `query:"accountId" maxLength:"64"`
	Query       string `query:"q" maxLength:"300"`
	IncludeGone bool   `query:"includeGone"`
	Limit       int    `query:"limit" minimum:"0" maximum:"500"`
	Cursor      string `query:"cursor" maxLength:"20"`
}

func (s *Service) apiRepositories(ctx context.Context, in *repositoriesIn) (*bodyOf[list[RegistryRepository]], error) {
	off, err := cursor(in.Cursor)
	if err != nil {
		return nil, s.httpError(ctx, "list repositories", err)
	}
	got, total, err := s.Repositories(ctx, RepositoryFilter{AccountID: in.AccountID, Query: in.Query, IncludeGone: in.IncludeGone, Limit: in.Limit, Offset: off})
	if err != nil {
		return nil, s.httpError(ctx, "list repositories", err)
	}
	out := list[RegistryRepository]{Items: got, Total: &total}
	if next := off + len(got); next < total {
		out.NextCursor = strconv.Itoa(next)
	}
	return &bodyOf[list[RegistryRepository]]{out}, nil
}

type tagsIn struct {
	AccountID    string `query:"accountId" maxLength:"64"`
	RepositoryID string `query:"repositoryId" maxLength:"64"`
	Query        string `query:"q" maxLength:"300"`
	IncludeGone  bool   `query:"includeGone"`
	Running      bool   `query:"running" doc:"Only tags with an image running in the topology"`
	Scan         string `query:"scan" enum:"none,queued,running,complete,error,cancelled," doc:"Only tags with an image whose latest scan has this status (none: never scanned)"`
	Limit        int    `query:"limit" minimum:"0" maximum:"500"`
	Cursor       string `query:"cursor" maxLength:"20"`
}

func (s *Service) apiTags(ctx context.Context, in *tagsIn) (*bodyOf[list[RegistryTag]], error) {
	off, err := cursor(in.Cursor)
	if err != nil {
		return nil, s.httpError(ctx, "list tags", err)
	}
	got, total, err := s.Tags(ctx, TagFilter{AccountID: in.AccountID, RepositoryID: in.RepositoryID, Query: in.Query, IncludeGone: in.IncludeGone,
		Running: in.Running, Scan: in.Scan, Limit: in.Limit, Offset: off})
	if err != nil {
		return nil, s.httpError(ctx, "list tags", err)
	}
	out := list[RegistryTag]{Items: got, Total: &total}
	if next := off + len(got); next < total {
		out.NextCursor = strconv.Itoa(next)
	}
	return &bodyOf[list[RegistryTag]]{out}, nil
}

type imageIn struct {
	Digest string `path:"digest" maxLength:"80"`
}

func (s *Service) apiImage(ctx context.Context, in *imageIn) (*bodyOf[RegistryImageDetail], error) {
	d, err := s.ImageDetail(ctx, in.Digest)
	if err != nil {
		return nil, s.httpError(ctx, "get registry image", err)
	}
	return &bodyOf[RegistryImageDetail]{d}, nil
}

func (s *Service) apiScan(ctx context.Context, in *bodyOf[RegistryScanRequest]) (*bodyOf[RegistryScanResult], error) {
	r, err := s.ScanImages(ctx, in.Body)
	if err != nil {
		return nil, s.httpError(ctx, "scan registry images", err)
	}
	return &bodyOf[RegistryScanResult]{r}, nil
}
