package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sensor credentials: an admin's enrolment token lets a sensor enrol; the
// sensor then holds a key of its own, bound to the sensor id the console
// assigned, which it exchanges for short-lived sensor access tokens.
const (
	EnrolmentTokenPrefix = "rme_"
	SensorKeyPrefix      = "rmsk_"
)

// SensorAudience is the audience of sensor access tokens. User routes
// verify the user audience (Issuer), so a sensor's token never passes as a
// user's, nor a user's as a sensor's.
const SensorAudience = "riskmap-sensor"

// SensorClaims are a sensor access token's claims: the sensor (subject)
// and the generation of its key the token was issued from (rotation and
// revocation end the tokens of older generations).
type SensorClaims struct {
	KeyGen int `json:"kg"`
	jwt.RegisteredClaims
}

// IssueSensor returns a signed access token for a sensor.
func (t *Tokens) IssueSensor(sensorID string, keyGen int, tokenID string) (string, time.Time, error) {
	if len(t.Keys) == 0 {
		return "", time.Time{}, errors.New("issue sensor token: no signing key")
	}
	now := t.Now()
	exp := now.Add(t.TTL)
	claims := SensorClaims{KeyGen: keyGen, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Subject: sensorID, Audience: jwt.ClaimStrings{SensorAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), ID: tokenID,
	}}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = t.Keys[0].ID
	s, err := tok.SignedString(t.Keys[0].Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue sensor token: %w", err)
	}
	return s, exp, nil
}

// VerifySensor checks a sensor access token (signature, algorithm,
// issuer, sensor audience, lifetime) and returns its claims.
func (t *Tokens) VerifySensor(s string) (*SensorClaims, error) {
	claims := &SensorClaims{}
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
		jwt.WithAudience(SensorAudience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.Now),
	)
	if err != nil {
		return nil, fmt.Errorf("verify sensor token: %w", err)
	}
	if claims.Subject == "" || claims.KeyGen <= 0 {
		return nil, errors.New("verify sensor token: no sensor or key generation")
	}
	return claims, nil
}
