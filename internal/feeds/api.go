package feeds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/console"
)

// UploadLimit bounds a feed upload (the policy table repeats it).
const UploadLimit = 2 << 30

// Routes registers the feeds API (console.Module).
func (k *KB) Routes(api huma.API, r chi.Router) {
	huma.Register(api, huma.Operation{OperationID: "update-feeds", Method: http.MethodPost, Path: "/api/v1/feeds/update",
		Summary: "Update the vulnerability feeds now and reload the knowledge base", Tags: []string{"feeds"}, MaxBodyBytes: 1 << 20},
		func(ctx context.Context, _ *struct{}) (*struct{ Body FeedStatus }, error) {
			if err := k.Update(ctx); err != nil {
				k.log.WarnContext(ctx, "feed update", "err", err)
			}
			return &struct{ Body FeedStatus }{k.Status()}, nil
		})
	console.RawRoute(api, r, huma.Operation{OperationID: "import-feeds", Method: http.MethodPost, Path: "/api/v1/feeds/import",
		Summary: "Upload a feed file (filed under the source its content belongs to) or an exported bundle; air-gapped sites", Tags: []string{"feeds"}},
		map[string]*huma.Response{"200": {Description: "The import report and the feeds' status", Content: map[string]*huma.MediaType{"application/json": {}}}},
		k.rawImport)
}

// rawImport takes a feed file or an exported bundle as the body; ?name=
// is the uploaded file's name.
func (k *KB) rawImport(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" || strings.ContainsAny(name, "/\\") || len(name) > 200 {
		console.WriteProblem(w, http.StatusBadRequest, "give ?name=FILE (the uploaded file's name, e.g. all.zip, known_exploited_vulnerabilities.json or riskmap-feeds.tar)")
		return
	}
	rep, err := k.Import(r.Context(), r.Body, name)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", mbe.Limit))
			return
		}
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"report": rep, "status": k.Status()})
}
