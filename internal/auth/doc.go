// Package auth holds the console's access-control primitives, independent of
// HTTP and storage: roles and their order, argon2id password hashing,
// random secrets (session ids, API keys, invitation and reset tokens) stored
// only as SHA-256 digests, short-lived signed access tokens (JWT) naming
// what they were issued from (the API key and the refresh-token family),
// the rate limiters and the growing delays of failed sign-ins (Backoff).
package auth
