package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPages(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		next    func(cursor string) string
		want    []string
		wantErr bool
	}{
		{name: "until_empty", next: func(c string) string {
			if c == "3" {
				return ""
			}
			n, _ := strconv.Atoi(c)
			return strconv.Itoa(n + 1)
		}, want: []string{"1", "2", "3"}},
		{name: "same_cursor_ends", next: func(string) string { return "1" }, want: []string{"1"}},
		{name: "endless", next: func(c string) string {
			n, _ := strconv.Atoi(c)
			return strconv.Itoa(n + 1)
		}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Pages(ctx, "1", func(c string) (string, error) {
				if len(got) < 5 {
					got = append(got, c)
				}
				return tt.next(c), nil
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Pages: %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("cursors (-want +got):\n%s", diff)
				}
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := Pages(cancelled, "", func(string) (string, error) { return "", nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestLinkPages(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "":
			w.Header().Set("Link", `</l?page=2>; rel="next"`)
			w.Write([]byte(`["a","b"]`))
		case "2":
			w.Header().Set("Link", `</l?page=3>; rel="next"`)
			w.Write([]byte(`[]`))
		default:
			w.Write([]byte(`["c"]`))
		}
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), What: "Test API"}
	var pages [][]string
	parse := func(b []byte) ([]string, error) {
		s := strings.Trim(string(b), "[]")
		if s == "" {
			return nil, nil
		}
		return strings.Split(strings.ReplaceAll(s, `"`, ""), ","), nil
	}
	err := LinkPages(context.Background(), c, srv.URL+"/l", parse, func(p []string) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"c"}}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func TestParseToken(t *testing.T) {
	for _, tt := range []struct {
		body    string
		members []string
		want    string
		wantErr string
	}{
		{`{"access_token":"a","token":"b"}`, []string{"access_token", "token"}, "a", ""},
		{`{"access_token":"","token":"b"}`, []string{"access_token", "token"}, "b", ""},
		{`{"token":"a b"}`, []string{"token"}, "", "token in the answer is not one word"},
		{`{"other":"x"}`, []string{"token", "access_token"}, "", "no token or access_token in the answer"},
		{`[`, []string{"token"}, "", "decode token answer"},
	} {
		got, err := ParseToken([]byte(tt.body), tt.members...)
		if got.Value != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseToken(%s, %q) = %q, %v; want %q, %q", tt.body, tt.members, got.Value, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.eyJleHAiOjE3OTAwMDAwMDB9.c"}`))
	f.Add([]byte(`{"token":"abc","access_token":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := ParseToken(b, "access_token", "token")
		if err == nil && (tok.Value == "" || strings.ContainsAny(tok.Value, " \r\n")) {
			t.Fatalf("ParseToken(%q) = %q without error", b, tok.Value)
		}
	})
}

func TestSettings(t *testing.T) {
	items, err := List("projects", " a, ,b ,Bad Name", regexp.MustCompile(`^[a-z]+$`), "a project name")
	if diff := cmp.Diff([]string{"a", "b"}, items); diff != "" || err == nil || err.Error() != `projects: "Bad Name" is not a project name` {
		t.Errorf("List = %q, %v", items, err)
	}
	if u, err := BaseURLOr("url", " ", "https://quay.io/"); err != nil || u.String() != "https://quay.io" {
		t.Errorf("BaseURLOr blank = %v, %v", u, err)
	}
	if u, err := BaseURLOr("url", "https://q.example", "https://quay.io"); err != nil || u.Host != "q.example" {
		t.Errorf("BaseURLOr = %v, %v", u, err)
	}
	for s, want := range map[string]bool{"r.azurecr.io": true, "127.0.0.1:5000": true, "r.io/x": false, "": false, "h:port": false} {
		if IsHost(s) != want {
			t.Errorf("IsHost(%q) = %v", s, !want)
		}
	}
	for _, tt := range []struct {
		v        string
		required bool
		want     string
	}{{"", true, "username: required"}, {"", false, ""}, {"robot$a+b", true, ""}, {"a:b", false, "username: no colons or spaces"}, {"a b", true, "username: no colons or spaces"}} {
		if err := User("username", tt.v, tt.required); fmt.Sprint(err) != tt.want && !(err == nil && tt.want == "") {
			t.Errorf("User(%q, %v) = %v, want %q", tt.v, tt.required, err, tt.want)
		}
	}
	if got := EscapePath("team/a b/c?d"); got != "team/a%20b/c%3Fd" {
		t.Errorf("EscapePath = %q", got)
	}
	for s, want := range map[string]time.Time{
		"2026-11-01T10:00:00.123+02:00": time.Date(2026, 11, 1, 8, 0, 0, 123e6, time.UTC),
		"0001-01-01T00:00:00.000Z":      {},
		"yesterday":                     {},
	} {
		if got := Time(s); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Time(%q) = %v, want %v", s, got, want)
		}
	}
}
