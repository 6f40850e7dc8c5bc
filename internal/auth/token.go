package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessClaims are the claims of an access token: who (subject = user id)
// and what it was issued from: the API key (resetting the key ends its
// tokens) and the refresh-token family of the exchange (revoking the family
// ends them too).
type AccessClaims struct {
	APIKeyID string `json:"akid"`
	FamilyID string `json:"fam,omitempty"`
	jwt.RegisteredClaims
}

// Origin is what an access token is issued from.
type Origin struct {
	UserID   string
	APIKeyID string
	FamilyID string // the refresh-token family of the API key exchange
}

// ErrUnknownKey means a token names a signing key this process does not
// have (yet): another replica may have rotated keys.
var ErrUnknownKey = errors.New("unknown signing key")

// Issuer is the JWT issuer and audience of Riskmap access tokens.
const Issuer = "riskmap-console"

// SigningKey is an Ed25519 key that signs access tokens, named by ID.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	Keys []SigningKey // Keys[0] signs; all verify
	TTL  time.Duration
	Now  func() time.Time
}

// Issue returns a signed access token for o, named tokenID.
func (t *Tokens) Issue(o Origin, tokenID string) (string, time.Time, error) {
	claims := &AccessClaims{APIKeyID: o.APIKeyID, FamilyID: o.FamilyID}
	return t.sign("access", claims, &claims.RegisteredClaims, o.UserID, Issuer, tokenID)
}

// sign fills reg (the registered claims inside claims) for subject and
// audience, valid for t.TTL from now, and signs claims with Keys[0].
func (t *Tokens) sign(what string, claims jwt.Claims, reg *jwt.RegisteredClaims, subject, audience, tokenID string) (string, time.Time, error) {
	if len(t.Keys) == 0 {
		return "", time.Time{}, fmt.Errorf("issue %s token: no signing key", what)
	}
	now := t.Now()
	exp := now.Add(t.TTL)
	*reg = jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        tokenID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = t.Keys[0].ID
	s, err := tok.SignedString(t.Keys[0].Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue %s token: %w", what, err)
	}
	return s, exp, nil
}

// Verify checks an access token's signature, algorithm, issuer, audience and
// lifetime and returns its claims.
func (t *Tokens) Verify(s string) (*AccessClaims, error) {
	claims := &AccessClaims{}
	if err := t.verify("access", s, claims, Issuer); err != nil {
		return nil, err
	}
	if claims.Subject == "" {
		return nil, errors.New("verify access token: no subject")
	}
	return claims, nil
}

// verify checks token s (signature by one of Keys, EdDSA only, issuer,
// audience, lifetime) into claims.
func (t *Tokens) verify(what, s string, claims jwt.Claims, audience string) error {
	_, err := jwt.ParseWithClaims(s, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range t.Keys {
			if k.ID == kid {
				return k.Private.Public(), nil
			}
		}
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.Now),
	)
	if err != nil {
		return fmt.Errorf("verify %s token: %w", what, err)
	}
	return nil
}
