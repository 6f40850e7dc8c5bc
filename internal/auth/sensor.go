package auth

import (
	"errors"
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
	claims := &SensorClaims{KeyGen: keyGen}
	return t.sign("sensor", claims, &claims.RegisteredClaims, sensorID, SensorAudience, tokenID)
}

// VerifySensor checks a sensor access token (signature, algorithm,
// issuer, sensor audience, lifetime) and returns its claims.
func (t *Tokens) VerifySensor(s string) (*SensorClaims, error) {
	claims := &SensorClaims{}
	if err := t.verify("sensor", s, claims, SensorAudience); err != nil {
		return nil, err
	}
	if claims.Subject == "" || claims.KeyGen <= 0 {
		return nil, errors.New("verify sensor token: no sensor or key generation")
	}
	return claims, nil
}
