package restapi

import (
	"context"
	"net/http"
)

// Bearer is a Client.Authorize sending token as a bearer token.
func Bearer(token string) func(context.Context, *http.Request) error {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// BearerFrom is a Client.Authorize sending the bearer token get gives
// for each request (a TokenCache's Get: renewed before it expires).
func BearerFrom(get func(context.Context) (string, error)) func(context.Context, *http.Request) error {
	return func(ctx context.Context, r *http.Request) error {
		tok, err := get(ctx)
		if err != nil {
			return err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// Basic is a Client.Authorize sending HTTP Basic credentials.
func Basic(user, password string) func(context.Context, *http.Request) error {
	return func(_ context.Context, r *http.Request) error {
		r.SetBasicAuth(user, password)
		return nil
	}
}
