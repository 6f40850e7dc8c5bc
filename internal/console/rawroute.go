package console

import (
	"net/http"
	"regexp"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
)

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// RawRoute serves a streaming route (a body huma must not decode, or a
// document it must not encode) on the router and documents it in the
// OpenAPI description like a typed operation: its path parameters, the
// given success responses and a problem document otherwise. The route still
// needs its row in Policy().
func RawRoute(api huma.API, r chi.Router, op huma.Operation, success map[string]*huma.Response, h http.HandlerFunc) {
	r.Method(op.Method, op.Path, h)
	o := op
	o.Responses = map[string]*huma.Response{}
	for code, resp := range success {
		o.Responses[code] = resp
	}
	for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
		o.Parameters = append(o.Parameters, &huma.Param{Name: m[1], In: "path", Required: true, Schema: &huma.Schema{Type: "string"}})
	}
	o.Responses["default"] = &huma.Response{Description: "A problem document", Content: map[string]*huma.MediaType{"application/problem+json": {}}}
	api.OpenAPI().AddOperation(&o)
}
