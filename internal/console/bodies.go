package console

import (
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/riskmap/riskmap/internal/intake"
)

// BodyLimits bound a huma JSON body beyond its size (the route's
// MaxBodyBytes, 1 MiB by default). huma decodes a body twice, into `any`
// for schema validation and into the input type, and into `any` a small
// body can still be costly: a mebibyte of `[{},{},...]` is a third of a
// million maps. No route takes more than a few thousand values (lists are
// at most 1,000 long in the schemas).
var BodyLimits = intake.Limits{MaxDepth: 32, MaxString: 1 << 20, MaxValues: 20_000, MaxItems: 10_000}

// boundedFormats has huma read JSON bodies through intake (BodyLimits).
// huma never decompresses a request body, so a body's size bounds its
// input.
func boundedFormats(formats map[string]huma.Format) map[string]huma.Format {
	out := make(map[string]huma.Format, len(formats))
	for name, f := range formats {
		if strings.Contains(name, "json") {
			f.Unmarshal = func(data []byte, v any) error { return intake.Unmarshal(data, v, BodyLimits) }
		}
		out[name] = f
	}
	return out
}
