package store

import (
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, sqlite, postgres string
	}{
		{"no_placeholders", "SELECT 1", "SELECT 1", "SELECT 1"},
		{"several", "a = ? AND b = ?", "a = ? AND b = ?", "a = $1 AND b = $2"},
		{"quoted_question_mark", "a = '?' AND b = ?", "a = '?' AND b = ?", "a = '?' AND b = $1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebind(SQLite, tc.in); got != tc.sqlite {
				t.Errorf("sqlite: %q; want %q", got, tc.sqlite)
			}
			if got := rebind(Postgres, tc.in); got != tc.postgres {
				t.Errorf("postgres: %q; want %q", got, tc.postgres)
			}
		})
	}
}

func TestNewIDMonotonic(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := NewID(now)
	for i := 0; i < 1000; i++ {
		at := now
		if i%3 == 0 {
			at = now.Add(-time.Second) // clock stepping back
		}
		id := NewID(at)
		if id <= prev {
			t.Fatalf("NewID not increasing: %s after %s", id, prev)
		}
		prev = id
	}
}
