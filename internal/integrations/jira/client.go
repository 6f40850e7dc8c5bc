package jira

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"

	"github.com/riskmap/riskmap/internal/integrations/dest"
)

// client makes the few Jira REST calls the destination needs. The paths
// are the same on v2 and v3 except the search: Cloud's enhanced search
// (POST /rest/api/3/search/jql, token-paged, with reconcileIssues) and
// Data Center's POST /rest/api/2/search (startAt-paged).
type client struct {
	base  string
	api   string // /rest/api/3 or /rest/api/2
	cloud bool
	auth  string
	http  *http.Client
}

// maxAnswer bounds what is read of any Jira answer.
const maxAnswer = 4 << 20

func (c *client) do(ctx context.Context, method, path string, in any, want int) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, dest.Permanent(fmt.Errorf("%s %s: encode: %w", method, path, err))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+c.api+path, body)
	if err != nil {
		return nil, dest.Permanent(fmt.Errorf("%s %s: %w", method, path, err))
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("User-Agent", "riskmap")
	resp, err := c.http.Do(req)
	if err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			// Not worth retrying until someone fixes the trust.
			return nil, dest.Permanent(fmt.Errorf("%s %s: %w", method, path, err))
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err) // the network: retryable
	}
	defer resp.Body.Close()
	if err := dest.CheckResponse(resp); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want && !(want == http.StatusNoContent && resp.StatusCode == http.StatusOK) {
		return nil, dest.Permanent(fmt.Errorf("%s %s: HTTP %d, expected %d", method, path, resp.StatusCode, want))
	}
	return b, nil
}

// issue is an issue as a search returns it, with the fields asked for.
type issue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Labels []string `json:"labels"`
		Status *status  `json:"status"`
	} `json:"fields"`
}

type status struct {
	Name           string `json:"name"`
	StatusCategory struct {
		Key string `json:"key"` // new, indeterminate, done
	} `json:"statusCategory"`
}

type transition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type project struct {
	Key        string `json:"key"`
	IssueTypes []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Subtask bool   `json:"subtask"`
	} `json:"issueTypes"`
}

var (
	issueKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*-[0-9]+$`)
	numeric  = regexp.MustCompile(`^[0-9]{1,18}$`)
)

func (c *client) search(ctx context.Context, jql string, reconcile []int64) ([]issue, error) {
	in := map[string]any{"jql": jql, "fields": []string{"labels", "status"}, "maxResults": 10}
	path := "/search"
	if c.cloud {
		path = "/search/jql"
		if len(reconcile) > 0 {
			in["reconcileIssues"] = reconcile
		}
	} else {
		in["startAt"] = 0
	}
	b, err := c.do(ctx, http.MethodPost, path, in, http.StatusOK)
	if err != nil {
		return nil, err
	}
	found, err := parseSearch(b)
	if err != nil {
		return nil, dest.Permanent(fmt.Errorf("search %s: %w", jql, err))
	}
	return found, nil
}

// parseSearch reads a search answer (v2 or v3: both have "issues"),
// keeping issues with a numeric id and a well-formed key.
func parseSearch(b []byte) ([]issue, error) {
	var r struct {
		Issues *[]issue `json:"issues"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse search answer: %w", err)
	}
	if r.Issues == nil {
		return nil, errors.New("parse search answer: no issues member")
	}
	var out []issue
	for _, is := range *r.Issues {
		if !numeric.MatchString(is.ID) || !issueKey.MatchString(is.Key) {
			return nil, fmt.Errorf("parse search answer: issue id %q key %q", is.ID, is.Key)
		}
		out = append(out, is)
	}
	return out, nil
}

func (c *client) create(ctx context.Context, fields map[string]any) (string, error) {
	b, err := c.do(ctx, http.MethodPost, "/issue", map[string]any{"fields": fields}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	id, _, err := parseCreated(b)
	if err != nil {
		// Created, but the answer is unreadable: not worth a retry that
		// the search would turn into nothing anyway.
		return "", nil
	}
	return id, nil
}

// parseCreated reads a create-issue answer: {"id", "key", "self"}.
func parseCreated(b []byte) (id, key string, err error) {
	var r struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", "", fmt.Errorf("parse created issue: %w", err)
	}
	if !numeric.MatchString(r.ID) || !issueKey.MatchString(r.Key) {
		return "", "", fmt.Errorf("parse created issue: id %q key %q", r.ID, r.Key)
	}
	return r.ID, r.Key, nil
}

func (c *client) comment(ctx context.Context, key string, body any) error {
	_, err := c.do(ctx, http.MethodPost, "/issue/"+url.PathEscape(key)+"/comment", map[string]any{"body": body}, http.StatusCreated)
	return vanished(err)
}

func (c *client) labels(ctx context.Context, key, op, label string) error {
	in := map[string]any{"update": map[string]any{"labels": []any{map[string]string{op: label}}}}
	_, err := c.do(ctx, http.MethodPut, "/issue/"+url.PathEscape(key), in, http.StatusNoContent)
	return vanished(err)
}

func (c *client) transitions(ctx context.Context, key string) ([]transition, error) {
	b, err := c.do(ctx, http.MethodGet, "/issue/"+url.PathEscape(key)+"/transitions", nil, http.StatusOK)
	if err != nil {
		return nil, vanished(err)
	}
	ts, err := parseTransitions(b)
	if err != nil {
		return nil, dest.Permanent(err)
	}
	return ts, nil
}

// parseTransitions reads {"transitions": [{"id", "name", ...}]}.
func parseTransitions(b []byte) ([]transition, error) {
	var r struct {
		Transitions []transition `json:"transitions"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse transitions: %w", err)
	}
	for _, t := range r.Transitions {
		if !numeric.MatchString(t.ID) {
			return nil, fmt.Errorf("parse transitions: id %q", t.ID)
		}
	}
	return r.Transitions, nil
}

func (c *client) doTransition(ctx context.Context, key, id, resolution string) error {
	in := map[string]any{"transition": map[string]string{"id": id}}
	if resolution != "" {
		in["fields"] = map[string]any{"resolution": map[string]string{"name": resolution}}
	}
	_, err := c.do(ctx, http.MethodPost, "/issue/"+url.PathEscape(key)+"/transitions", in, http.StatusNoContent)
	return vanished(err)
}

func (c *client) status(ctx context.Context, key string) (status, error) {
	b, err := c.do(ctx, http.MethodGet, "/issue/"+url.PathEscape(key)+"?fields=status", nil, http.StatusOK)
	if err != nil {
		return status{}, vanished(err)
	}
	var r issue
	if err := json.Unmarshal(b, &r); err != nil || r.Fields.Status == nil {
		return status{}, dest.Permanent(fmt.Errorf("parse issue %s: no status (%v)", key, err))
	}
	return *r.Fields.Status, nil
}

func (c *client) myself(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/myself", nil, http.StatusOK)
	return err
}

func (c *client) project(ctx context.Context, key string) (project, error) {
	b, err := c.do(ctx, http.MethodGet, "/project/"+url.PathEscape(key), nil, http.StatusOK)
	if err != nil {
		return project{}, err
	}
	return parseProject(b)
}

// parseProject reads a project with its issue types.
func parseProject(b []byte) (project, error) {
	var p project
	if err := json.Unmarshal(b, &p); err != nil {
		return p, dest.Permanent(fmt.Errorf("parse project: %w", err))
	}
	return p, nil
}

// vanished makes a 404 on an issue the search has just found retryable:
// it was deleted or moved in between, and the next attempt searches again.
func vanished(err error) error {
	var e *dest.Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		e.Retryable = true
	}
	return err
}
