package registries

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/inventory/scanner"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
)

// ScanKind is the registries.scan job kind: a registry image scanned by
// the console with the scanner every surface uses (layers streamed from
// the registry with the account's credentials, never unpacked), at most
// ScanConcurrency at once; the scans module stores and matches the
// inventory.
func (s *Service) ScanKind() jobs.Kind {
	return s.scans.ConsoleKind(KindScan, s.cfg.ScanConcurrency, s.runScan)
}

// normHost is a registry host as go-containerregistry names it
// (docker.io is index.docker.io).
func normHost(h string) string {
	r, err := name.NewRegistry(h)
	if err != nil {
		return h
	}
	return r.RegistryStr()
}

// runScan pulls and inventories one registry image of a scan.
func (s *Service) runScan(ctx context.Context, sc scans.Scan) (*inventory.Inventory, error) {
	ref := sc.Target.Ref
	r, err := name.NewDigest(ref)
	if err != nil {
		return nil, jobs.Permanent(fmt.Errorf("registry image %q: %w", ref, err))
	}
	host, repo := r.Context().RegistryStr(), r.Context().RepositoryStr()
	a, err := s.accountFor(ctx, host, repo)
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	var secrets map[string]string
	if len(a.secretNames) > 0 {
		if secrets, err = s.secretsOf(ctx, a.ID); err != nil {
			return nil, jobs.Permanent(err)
		}
	}
	cn, err := s.connect(a, secrets)
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	defer cn.close()
	auth, err := cn.reg.Authenticator(ctx)
	if err != nil {
		if errors.Is(err, provider.ErrUnauthorized) {
			return nil, jobs.Permanent(err)
		}
		return nil, err
	}
	inv, err := scanner.Scan(ctx, scanner.KindRegistry+":"+ref, scanner.Options{Keychain: keychain{host: host, auth: auth},
		RegistryTransport: cn.transport, Logger: s.log.With("scan", sc.ID)})
	if err != nil {
		err = classify(err)
		if !errors.Is(err, provider.ErrUnavailable) && (isNotFound(err) || errors.Is(err, provider.ErrUnauthorized) || errors.Is(err, ErrPlainHTTP)) {
			return nil, jobs.Permanent(err)
		}
		return nil, err
	}
	inv.Target.Kind, inv.Target.Ref = scans.KindRegistry, ref
	if inv.Target.Digest == "" {
		inv.Target.Digest = r.DigestStr()
	}
	return inv, nil
}

// accountFor is the account whose catalogue names repo on host (any
// account of the host when none does).
func (s *Service) accountFor(ctx context.Context, host, repo string) (RegistryAccount, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT `+accountCols+` FROM registry_accounts ORDER BY id`)
	if err != nil {
		return RegistryAccount{}, fmt.Errorf("registry accounts: %w", err)
	}
	var candidates []RegistryAccount
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return RegistryAccount{}, fmt.Errorf("registry accounts: %w", err)
		}
		if normHost(a.Host) == host {
			candidates = append(candidates, a)
		}
	}
	if err := rows.Close(); err != nil {
		return RegistryAccount{}, fmt.Errorf("registry accounts: %w", err)
	}
	if len(candidates) == 0 {
		return RegistryAccount{}, fmt.Errorf("no registry account for %s: add one to scan its images", host)
	}
	for _, a := range candidates {
		var one int
		err := s.st.Read().QueryRowContext(ctx, `SELECT 1 FROM registry_repositories WHERE account_id = ? AND name = ? AND gone_at IS NULL`, a.ID, repo).Scan(&one)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return RegistryAccount{}, err
		}
	}
	return candidates[0], nil
}

// RegistryScanRequest selects registry images to scan: the images of tags, of
// digests, of a repository's or an account's live tags. Images already
// scanned (or being scanned) are left out unless Force.
type RegistryScanRequest struct {
	AccountID    string   `json:"accountId,omitempty" maxLength:"64" doc:"Every image of the account's live tags"`
	RepositoryID string   `json:"repositoryId,omitempty" maxLength:"64" doc:"Every image of the repository's live tags"`
	TagIDs       []string `json:"tagIds,omitempty" maxItems:"1000" doc:"The images of these tags (an index: every platform)"`
	Digests      []string `json:"digests,omitempty" maxItems:"1000" doc:"Images (or indexes) by digest, as live tags name them"`
	Force        bool     `json:"force,omitempty" doc:"Scan again images already scanned (a rematch after a feed update needs no new scan)"`
}

// RegistryScanResult says what a scan request queued.
type RegistryScanResult struct {
	Queued []scans.Scan `json:"queued"`
	// Skipped counts images with a complete scan or one in progress.
	Skipped int `json:"skipped"`
}

// MaxScanImages bounds the images of one scan request.
const MaxScanImages = 5000

// ScanImages queues scans of the images a request selects, by the
// console or the account's sensor; the request is audited
// (registry.scan) with the scans it queued.
func (s *Service) ScanImages(ctx context.Context, req RegistryScanRequest) (RegistryScanResult, error) {
	res := RegistryScanResult{Queued: []scans.Scan{}}
	var w []string
	var args []any
	switch {
	case len(req.TagIDs) > 0:
		w, args = append(w, `t.id IN (`+placeholders(len(req.TagIDs))+`)`), append(args, anys(req.TagIDs)...)
	case len(req.Digests) > 0:
		for _, d := range req.Digests {
			if !validDigest(d) {
				return res, fmt.Errorf("%w: digests: %q is not a sha256 digest", ErrInvalid, truncate(d, 100))
			}
		}
		ph := placeholders(len(req.Digests))
		w = append(w, `(t.digest IN (`+ph+`) OR t.digest IN (SELECT digest FROM registry_images WHERE kind = 'index' AND (`+
			strings.Repeat("children LIKE ? OR ", len(req.Digests)-1)+`children LIKE ?)))`)
		args = append(args, anys(req.Digests)...)
		for _, d := range req.Digests {
			args = append(args, `%"`+d+`"%`)
		}
	case req.RepositoryID != "":
		w, args = append(w, `t.repository_id = ?`), append(args, req.RepositoryID)
	case req.AccountID != "":
		w, args = append(w, `t.account_id = ?`), append(args, req.AccountID)
	default:
		return res, fmt.Errorf("%w: nothing to scan: give tagIds, digests, repositoryId or accountId", ErrInvalid)
	}
	if req.AccountID != "" && (len(req.TagIDs) > 0 || len(req.Digests) > 0 || req.RepositoryID != "") {
		w, args = append(w, `t.account_id = ?`), append(args, req.AccountID)
	}
	if req.RepositoryID != "" && (len(req.TagIDs) > 0 || len(req.Digests) > 0) {
		w, args = append(w, `t.repository_id = ?`), append(args, req.RepositoryID)
	}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT t.account_id, r.name, t.digest, i.kind, i.children FROM registry_tags t
		JOIN registry_repositories r ON r.id = t.repository_id JOIN registry_images i ON i.digest = t.digest
		WHERE t.gone_at IS NULL AND `+strings.Join(w, " AND ")+` ORDER BY r.name, t.name`, args...)
	if err != nil {
		return res, fmt.Errorf("registry images to scan: %w", err)
	}
	type where struct{ account, repo string }
	images := map[string]where{}
	wanted := map[string]bool{}
	for _, d := range req.Digests {
		wanted[d] = true
	}
	for rows.Next() {
		var acct, repo, digest, kind, children string
		if err := rows.Scan(&acct, &repo, &digest, &kind, &children); err != nil {
			rows.Close()
			return res, fmt.Errorf("registry images to scan: %w", err)
		}
		var ds []string
		switch kind {
		case imageKindImage:
			ds = []string{digest}
		case imageKindIndex:
			_ = json.Unmarshal([]byte(children), &ds)
			if len(wanted) > 0 && !wanted[digest] {
				// The digest asked for is one of the index's images.
				ds = slices.DeleteFunc(ds, func(c string) bool { return !wanted[c] })
			}
		}
		for _, d := range ds {
			if _, ok := images[d]; !ok {
				images[d] = where{acct, repo}
			}
		}
	}
	if err := rows.Close(); err != nil {
		return res, fmt.Errorf("registry images to scan: %w", err)
	}
	if len(images) == 0 {
		return res, fmt.Errorf("%w: no live tag names an image to scan there", ErrNotFound)
	}
	digests := make([]string, 0, len(images))
	for d := range images {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	known, err := s.knownManifests(ctx, digests)
	if err != nil {
		return res, err
	}
	digests = slices.DeleteFunc(digests, func(d string) bool { m := known[d]; return m == nil || m.kind != imageKindImage })
	if len(digests) > MaxScanImages {
		return res, fmt.Errorf("%w: %d images; at most %d per request", ErrInvalid, len(digests), MaxScanImages)
	}
	have, err := s.scans.DigestScans(ctx, digests)
	if err != nil {
		return res, err
	}
	accounts := map[string]RegistryAccount{}
	var targets []scans.Target
	for _, d := range digests {
		if h, ok := have[d]; ok {
			st := h.Latest.Status
			if st == scans.StatusQueued || st == scans.StatusRunning || (st == scans.StatusComplete && !req.Force) {
				res.Skipped++
				continue
			}
		}
		wh := images[d]
		a, ok := accounts[wh.account]
		if !ok {
			if a, err = getAccount(ctx, s.st.Read(), wh.account); err != nil {
				return res, err
			}
			accounts[wh.account] = a
		}
		targets = append(targets, s.scanTarget(a, wh.repo, d))
	}
	if len(targets) == 0 {
		return res, nil
	}
	by, _ := caller(ctx)
	got, err := s.scans.StartImageScans(ctx, KindScan, targets, by, func(ctx context.Context, tx store.Querier, queued []scans.QueuedScan) error {
		if len(queued) == 0 {
			return nil
		}
		target := fmt.Sprintf("%d registry image scans", len(queued))
		if len(queued) == 1 {
			target = "registry image scan " + queued[0].ID + " (" + queued[0].Target.Ref + ")"
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditRegistryScan, target, nil, struct {
			Request RegistryScanRequest `json:"request"`
			Scans   []scans.QueuedScan  `json:"scans"`
		}{req, queued}))
	})
	if err != nil {
		return res, err
	}
	s.jobs.Wake()
	res.Queued = got
	return res, nil
}

func validDigest(d string) bool {
	if len(d) != 71 || !strings.HasPrefix(d, "sha256:") {
		return false
	}
	for _, c := range d[7:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
