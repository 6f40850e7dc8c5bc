package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
)

// checkAnswer fails the test when a JSON answer of the console's typed API
// is not what its OpenAPI document promises for the route and status: a
// null where the document has an array or an object (the web console's
// generated types read them as such), a missing required field, a wrong
// type. Every request the tests make through client.do is checked, so the
// authorisation matrix (every route on an empty console) and the flows on
// populated ones walk the document.
func (e *env) checkAnswer(method, rawPath string, r response) {
	e.t.Helper()
	if r.status < 200 || r.status > 299 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		return
	}
	u, err := url.Parse(rawPath)
	if err != nil {
		return
	}
	pattern := e.srv.Router().Find(chi.NewRouteContext(), method, u.Path)
	oapi := e.srv.API().OpenAPI()
	item := oapi.Paths[pattern]
	if item == nil {
		return // a raw route (streams, downloads): not in the typed API
	}
	var op *huma.Operation
	switch method {
	case http.MethodGet:
		op = item.Get
	case http.MethodPost:
		op = item.Post
	case http.MethodPut:
		op = item.Put
	case http.MethodPatch:
		op = item.Patch
	case http.MethodDelete:
		op = item.Delete
	}
	if op == nil {
		return
	}
	resp := op.Responses[strconv.Itoa(r.status)]
	if resp == nil {
		e.t.Errorf("%s %s answered %d, which its OpenAPI operation %s does not document", method, rawPath, r.status, op.OperationID)
		return
	}
	mt := resp.Content["application/json"]
	if mt == nil || mt.Schema == nil {
		return
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		e.t.Errorf("%s %s: answer is not JSON: %v", method, rawPath, err)
		return
	}
	res := &huma.ValidateResult{}
	huma.Validate(oapi.Components.Schemas, mt.Schema, huma.NewPathBuffer([]byte{}, 0), huma.ModeReadFromServer, v, res)
	for _, err := range res.Errors {
		e.t.Errorf("%s %s: answer does not match the OpenAPI schema of %s: %v", method, rawPath, op.OperationID, err)
	}
}
