package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/riskmap/riskmap/internal/store"
)

// User is a user as the API shows it.
type User struct {
	ID          string     `json:"id"`
	Email       string     `json:"email" format:"email"`
	Name        string     `json:"name"`
	Role        string     `json:"role" enum:"admin,standard,read-only"`
	Disabled    bool       `json:"disabled"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastLoginAt *time.Time `json:"lastLoginAt" nullable:"true"`
}

// Me is the signed-in user and whether they hold an API key (its hint,
// never the key).
type Me struct {
	User
	APIKey *APIKeyInfo `json:"apiKey,omitempty"`
}

// APIKeyInfo describes a user's API key without it.
type APIKeyInfo struct {
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

func apiUser(u store.User) User {
	return User{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
}

// ListQuery is the pagination input of every list.
type ListQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"page size"`
	Cursor string `query:"cursor" maxLength:"200" doc:"nextCursor of the previous page"`
}

func (q ListQuery) page() (store.Page, error) {
	p := store.Page{Limit: q.Limit}
	if q.Cursor == "" {
		return p, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil || len(b) == 0 || len(b) > 100 {
		return p, typedError(http.StatusBadRequest, "", "cursor is malformed; pass back nextCursor unchanged")
	}
	p.Cursor = string(b)
	return p, nil
}

func encodeCursor(next string) string {
	if next == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(next))
}

// List is a page of items.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty" doc:"pass as cursor to get the next page; absent on the last page"`
}

// Request and response bodies.
type (
	SetupStatus struct {
		Registered bool `json:"registered" doc:"whether the first user has registered"`
	}
	RegisterRequest struct {
		Email        string `json:"email" format:"email" maxLength:"254"`
		Password     string `json:"password" minLength:"12" maxLength:"256"`
		Name         string `json:"name" minLength:"1" maxLength:"200"`
		Organisation string `json:"organisation" minLength:"1" maxLength:"200"`
	}
	LoginRequest struct {
		Email    string `json:"email" minLength:"1" maxLength:"254"`
		Password string `json:"password" minLength:"1" maxLength:"256"`
	}
	TokenRequest struct {
		APIKey string `json:"apiKey" minLength:"1" maxLength:"100"`
	}
	RefreshRequest struct {
		RefreshToken string `json:"refreshToken" minLength:"1" maxLength:"100"`
	}
	TokenResponse struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		TokenType    string `json:"tokenType" enum:"Bearer"`
		ExpiresIn    int    `json:"expiresIn" doc:"access token lifetime in seconds"`
	}
	PasswordResetRequest struct {
		Token       string `json:"token" minLength:"1" maxLength:"100"`
		NewPassword string `json:"newPassword" minLength:"12" maxLength:"256"`
	}
	InvitationInfo struct {
		Email     string    `json:"email"`
		Role      string    `json:"role" enum:"admin,standard,read-only"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	AcceptRequest struct {
		Name     string `json:"name" minLength:"1" maxLength:"200"`
		Password string `json:"password" minLength:"12" maxLength:"256"`
	}
	PasswordChangeRequest struct {
		CurrentPassword string `json:"currentPassword" minLength:"1" maxLength:"256"`
		NewPassword     string `json:"newPassword" minLength:"12" maxLength:"256"`
	}
	APIKeyResponse struct {
		APIKey string `json:"apiKey" doc:"the new API key; shown only now"`
	}
	UserPatch struct {
		Role     *string `json:"role,omitempty" enum:"admin,standard,read-only"`
		Disabled *bool   `json:"disabled,omitempty"`
	}
	ResetLinkResponse struct {
		Token     string    `json:"token"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	InvitationRequest struct {
		Email string `json:"email" format:"email" maxLength:"254"`
		Role  string `json:"role" enum:"admin,standard,read-only"`
	}
	CreatedInvitation struct {
		ID        string    `json:"id"`
		Email     string    `json:"email"`
		Role      string    `json:"role" enum:"admin,standard,read-only"`
		Token     string    `json:"token" doc:"shown only now"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	Invitation struct {
		ID         string     `json:"id"`
		Email      string     `json:"email"`
		Role       string     `json:"role" enum:"admin,standard,read-only"`
		Status     string     `json:"status" enum:"open,accepted,expired"`
		CreatedAt  time.Time  `json:"createdAt"`
		ExpiresAt  time.Time  `json:"expiresAt"`
		AcceptedAt *time.Time `json:"acceptedAt" nullable:"true"`
	}
	AuditEntry struct {
		ID         string    `json:"id"`
		Time       time.Time `json:"time"`
		Actor      string    `json:"actor"`
		Action     string    `json:"action"`
		Target     string    `json:"target"`
		ClientAddr string    `json:"clientAddr"`
		Detail     string    `json:"detail"`
		// Via is how the actor authenticated: session, api_key,
		// access_token, sensor; job or system for the console's own
		// changes; absent for anonymous requests and older entries.
		Via string `json:"via,omitempty"`
		// Before and After are the target's state around the change
		// (absent when the action has none).
		Before json.RawMessage `json:"before,omitempty"`
		After  json.RawMessage `json:"after,omitempty"`
	}
)
