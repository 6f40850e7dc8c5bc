package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Secret prefixes make leaked secrets recognisable (secret scanners) and
// let the console tell an API key from an access token at a glance.
const (
	APIKeyPrefix       = "rmk_"
	RefreshTokenPrefix = "rmr_"
	InvitationPrefix   = "rmi_"
	ResetPrefix        = "rmp_"
	SessionPrefix      = "rms_"
	CSRFPrefix         = "rmc_"
)

// NewSecret returns prefix followed by 32 random bytes, base64url encoded.
func NewSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashSecret returns the SHA-256 digest under which a secret is stored.
// Secrets carry 256 bits of entropy, so a fast hash is enough.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches compares a presented secret with a stored digest in constant
// time.
func SecretMatches(secret string, digest []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), digest) == 1
}

// WellFormed reports whether s looks like a secret made by NewSecret with
// the given prefix; it guards lookups against junk input.
func WellFormed(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// SecretHint is the short, non-secret start of a secret for display
// ("rmk_AbCd…").
func SecretHint(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
