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
//	f.Count("/oauth2/exchange")       // how many requests of a path arrived
//
// # The fakes
//
// Each type's comment lists its routes, members, pagination and refusals,
// with the documentation it follows:
//
//   - DockerHub (NewDockerHub): Hub API v2 sign-in (/v2/auth/token,
//     /v2/users/login) to a JWT, namespaces' repositories and tags by
//     "next"; registry tokens at /token for registry.docker.io; private
//     and public repositories.
//   - Harbor (NewHarbor): API v2.0 projects, repositories and artifacts
//     with tags, robot Basic authentication, page/page_size with Link and
//     X-Total-Count; /service/token.
//   - Quay (NewQuay): API v1 repository list by next_page, tags by
//     page/has_additional; OAuth bearer token; robot pulls via /v2/auth.
//   - GitLab (NewGitLab): API v4 project and group registry repositories,
//     tags and tag details by X-Next-Page; PRIVATE-TOKEN; /jwt/auth for
//     access and deploy tokens.
//   - JFrog (NewJFrog): Artifactory repositories, Docker _catalog and
//     tags/list by Link, storage File List and File Info; Bearer access
//     token or Basic user + API key; /v2/token or the access token direct.
//   - ACR (NewACR): Entra ID client credentials, /oauth2/exchange,
//     /oauth2/token (refresh_token grant, admin Basic), _catalog and
//     /acr/v1/{name}/_tags by Link, per-scope access tokens.
//   - GAR (NewGAR): Google OAuth JWT bearer grant (the assertion's RS256
//     signature verified), Artifact Registry dockerImages.list by
//     pageToken, GCR _catalog and tags/list with the manifest map.
//   - ECR (NewECR): ECR's AWS JSON 1.1 API and STS AssumeRole (Query/XML),
//     every SigV4 signature recomputed; the registry with Basic AWS:token.
//
// Helpers for providers' tests: Pull (a manifest through go-containerregistry
// with the provider's Authenticator), AllRepos and AllTags (with page
// sizes), NoSecret (no credential in an error), Image.ProviderTag. The
// conformance test every provider runs against its fake is
// providertest.Run.
//
// The fakes are stricter than the real services where that catches a
// client bug (unknown query parameters with the wrong type are refused;
// pagination links point only at the fake itself) and never more lenient
// about credentials.
package providerfake
