// Package providerfake holds loopback HTTPS fakes of the registry
// providers' APIs (issue 15), one per provider, each written from the
// provider's documented wire format: paths, query parameters,
// pagination, the authentication exchange, answers with the real member
// names, and refusals with the provider's own status, body and
// WWW-Authenticate. Each fake also serves a registry at /v2/ (go-containerregistry's
// pkg/registry behind the provider's token exchange), so a provider's
// pull Authenticator is tested by fetching a manifest.
//
// # Common API (Server, embedded in every fake)
//
//	f := providerfake.NewHarbor(t)    // started, closed at t's end
//	f.Client()                        // *http.Client trusting f only: provider.Account.HTTP
//	f.URL(), f.Host()                 // https://127.0.0.1:port, 127.0.0.1:port
//	f.Push(t, "proj/app", "v1")       // a pullable image, listed by the API with its digest and size
//	f.AddTags("proj/app", 250, start) // synthetic tags for listing (not pullable)
//	f.SetPageLimit(3)                 // the API caps pages at 3 entries
//	f.Fail(providerfake.Failure{Status: 503, Times: 1}) // the provider's own 503 body
//	f.ExpireTokens()                  // every issued token stops working
//	f.Requests()                      // what was asked, with the auth scheme used
//
// The fakes are stricter than the real services where that catches a
// client bug (unknown query parameters with the wrong type are refused;
// pagination links point only at the fake itself) and never more lenient
// about credentials.
package providerfake
