package registries

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
)

// RepositoryFilter selects repositories.
type RepositoryFilter struct {
	AccountID   string
	Query       string // part of the name
	IncludeGone bool
	Limit       int
	Offset      int
}

// Repositories lists repositories by name, with how many containers run
// their images, and the total.
func (s *Service) Repositories(ctx context.Context, f RepositoryFilter) ([]RegistryRepository, int, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var w store.Where
	if f.AccountID != "" {
		w.Add("account_id = ?", f.AccountID)
	}
	if !f.IncludeGone {
		w.Add("gone_at IS NULL")
	}
	if f.Query != "" {
		w.Add("name LIKE ?", "%"+escapeLike(strings.ToLower(f.Query))+"%")
	}
	var total int
	if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM registry_repositories`+w.SQL(), w.Args()...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	rows, err := s.st.Read().QueryContext(ctx, `SELECT id, account_id, name, tag_count, first_seen, last_seen, gone_at FROM registry_repositories`+
		w.SQL()+fmt.Sprintf(` ORDER BY name, id LIMIT %d OFFSET %d`, f.Limit, max(f.Offset, 0)), w.Args()...)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	out := []RegistryRepository{}
	for rows.Next() {
		var r RegistryRepository
		var first, last int64
		var gone sql.NullInt64
		if err := rows.Scan(&r.ID, &r.AccountID, &r.Name, &r.Tags, &first, &last, &gone); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("list repositories: %w", err)
		}
		r.FirstSeen, r.LastSeen, r.GoneAt = store.FromMillis(first), store.FromMillis(last), ptime(gone)
		out = append(out, r)
	}
	if err := rows.Close(); err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	// How many uses run each repository's images.
	run, err := s.running(ctx)
	if err != nil {
		return nil, 0, err
	}
	if len(run) > 0 {
		for i := range out {
			imgs, err := s.repoImages(ctx, out[i].ID)
			if err != nil {
				return nil, 0, err
			}
			seen := map[string]bool{}
			for _, d := range imgs {
				for _, u := range run[d] {
					seen[u.NodeID] = true
				}
			}
			out[i].Running = len(seen)
		}
	}
	return out, total, nil
}

// repoImages are the images a repository's live tags name.
func (s *Service) repoImages(ctx context.Context, repoID string) ([]string, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT DISTINCT t.digest, i.kind, i.children FROM registry_tags t JOIN registry_images i ON i.digest = t.digest
		WHERE t.repository_id = ? AND t.gone_at IS NULL`, repoID)
	if err != nil {
		return nil, fmt.Errorf("images of repository %s: %w", repoID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d, kind, children string
		if err := rows.Scan(&d, &kind, &children); err != nil {
			return nil, err
		}
		out = append(out, d)
		if kind == imageKindIndex {
			var cs []string
			_ = json.Unmarshal([]byte(children), &cs)
			out = append(out, cs...)
		}
	}
	return out, rows.Err()
}

// TagFilter selects tags.
type TagFilter struct {
	AccountID    string
	RepositoryID string
	// Query matches part of REPOSITORY:TAG or a digest.
	Query       string
	IncludeGone bool
	// Running keeps the tags with an image running in the topology.
	Running bool
	// Scan keeps the tags with an image whose latest scan has this status
	// (queued, running, complete, error, cancelled) or "none" (never
	// scanned).
	Scan   string
	Limit  int
	Offset int
}

// maxFilteredTags bounds the tags read to filter them by what the
// database does not hold (running, scan status).
const maxFilteredTags = 20_000

// Tags lists tags (by repository, then newest push first) with their
// images, each image's scans and where it runs, and the total.
func (s *Service) Tags(ctx context.Context, f TagFilter) ([]RegistryTag, int, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	switch f.Scan {
	case "", "none", scans.StatusQueued, scans.StatusRunning, scans.StatusComplete, scans.StatusError, scans.StatusCancelled:
	default:
		return nil, 0, fmt.Errorf("%w: scan %q (want none, queued, running, complete, error or cancelled)", ErrInvalid, truncate(f.Scan, 40))
	}
	var w store.Where
	if f.AccountID != "" {
		w.Add("t.account_id = ?", f.AccountID)
	}
	if f.RepositoryID != "" {
		w.Add("t.repository_id = ?", f.RepositoryID)
	}
	if !f.IncludeGone {
		w.Add("t.gone_at IS NULL")
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		if strings.HasPrefix(q, "sha256:") {
			w.Add("(t.digest LIKE ? OR t.digest IN (SELECT digest FROM registry_images WHERE children LIKE ?))", escapeLike(q)+"%", `%"`+escapeLike(q)+`%`)
		} else if repo, tag, ok := strings.Cut(q, ":"); ok {
			w.Add("r.name LIKE ? AND t.name LIKE ?", "%"+escapeLike(strings.ToLower(repo))+"%", escapeLike(tag)+"%")
		} else {
			w.Add("(r.name LIKE ? OR t.name LIKE ?)", "%"+escapeLike(strings.ToLower(q))+"%", "%"+escapeLike(q)+"%")
		}
	}
	from := ` FROM registry_tags t JOIN registry_repositories r ON r.id = t.repository_id JOIN registry_accounts a ON a.id = t.account_id`
	cols := `SELECT t.id, t.account_id, t.repository_id, r.name, t.name, a.host, t.digest, t.media_type, t.pushed_at, t.size, t.platforms,
		t.first_seen, t.changed_at, t.last_seen, t.gone_at, t.gone_reason`
	order := ` ORDER BY r.name, CASE WHEN t.pushed_at IS NULL THEN 1 ELSE 0 END, t.pushed_at DESC, t.name`
	post := f.Running || f.Scan != ""
	var total int
	limit, offset := f.Limit, max(f.Offset, 0)
	if post {
		limit, offset = maxFilteredTags, 0
	} else if err := s.st.Read().QueryRowContext(ctx, `SELECT COUNT(*)`+from+w.SQL(), w.Args()...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list tags: %w", err)
	}
	rows, err := s.st.Read().QueryContext(ctx, cols+from+w.SQL()+order+fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset), w.Args()...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tags: %w", err)
	}
	tags := []RegistryTag{}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("list tags: %w", err)
		}
		tags = append(tags, t)
	}
	if err := rows.Close(); err != nil {
		return nil, 0, fmt.Errorf("list tags: %w", err)
	}
	if err := s.fillImages(ctx, tags); err != nil {
		return nil, 0, err
	}
	if post {
		tags = slices.DeleteFunc(tags, func(t RegistryTag) bool {
			run, scan := false, false
			for _, im := range t.Images {
				run = run || len(im.Running) > 0
				st := "none"
				if im.Scan != nil {
					st = im.Scan.Status
				}
				scan = scan || st == f.Scan
			}
			return (f.Running && !run) || (f.Scan != "" && !scan)
		})
		total = len(tags)
		tags = tags[min(max(f.Offset, 0), len(tags)):]
		tags = tags[:min(f.Limit, len(tags))]
	}
	return tags, total, nil
}

func scanTag(sc interface{ Scan(...any) error }) (RegistryTag, error) {
	var t RegistryTag
	var host, platforms string
	var pushed, gone sql.NullInt64
	var first, changed, last int64
	err := sc.Scan(&t.ID, &t.AccountID, &t.RepositoryID, &t.Repository, &t.Name, &host, &t.Digest, &t.MediaType, &pushed, &t.Size, &platforms,
		&first, &changed, &last, &gone, &t.GoneReason)
	if err != nil {
		return t, err
	}
	t.Reference = host + "/" + t.Repository + ":" + t.Name
	t.Platforms = []string{}
	_ = json.Unmarshal([]byte(platforms), &t.Platforms)
	t.PushedAt, t.GoneAt = ptime(pushed), ptime(gone)
	t.FirstSeen, t.ChangedAt, t.LastSeen = store.FromMillis(first), store.FromMillis(changed), store.FromMillis(last)
	t.Images = []RegistryImage{}
	return t, nil
}

// fillImages sets each tag's images with their scans and uses.
func (s *Service) fillImages(ctx context.Context, tags []RegistryTag) error {
	var digests []string
	for _, t := range tags {
		digests = append(digests, t.Digest)
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	mans, err := s.knownManifests(ctx, digests)
	if err != nil {
		return err
	}
	var children []string
	for _, m := range mans {
		children = append(children, m.children...)
	}
	kids, err := s.knownManifests(ctx, children)
	if err != nil {
		return err
	}
	for d, m := range kids {
		mans[d] = m
	}
	all := make([]string, 0, len(mans))
	for d := range mans {
		all = append(all, d)
	}
	have, err := s.scans.DigestScans(ctx, all)
	if err != nil {
		return err
	}
	run, err := s.running(ctx)
	if err != nil {
		return err
	}
	for i := range tags {
		m := mans[tags[i].Digest]
		if m == nil {
			continue
		}
		ds := []string{m.digest}
		if m.kind == imageKindIndex {
			ds = m.children
		}
		for _, d := range ds {
			if im := mans[d]; im != nil {
				tags[i].Images = append(tags[i].Images, imageView(im, have, run))
			}
		}
	}
	return nil
}

func imageView(m *manifest, have map[string]scans.DigestScans, run map[string][]RegistryImageUse) RegistryImage {
	im := RegistryImage{Digest: m.digest, MediaType: m.mediaType, ConfigDigest: m.configDigest, Platform: m.platform, Size: m.size, CreatedAt: m.created,
		Scannable: m.kind == imageKindImage, Running: run[m.digest]}
	if im.Running == nil {
		im.Running = []RegistryImageUse{}
	}
	if h, ok := have[m.digest]; ok {
		st := &RegistryImageScan{ScanID: h.Latest.ID, Status: h.Latest.Status, Message: h.Latest.Message, ScanBy: ScanByConsole,
			CreatedAt: h.Latest.CreatedAt, FinishedAt: h.Latest.FinishedAt}
		if h.Latest.SensorID != "" {
			st.ScanBy = h.Latest.SensorID
		}
		if c := h.Complete; c != nil {
			st.CompleteScanID, st.Findings, st.ScannedAt = c.ID, c.Findings, c.FinishedAt
		}
		im.Scan = st
	}
	return im
}

// ImageDetail returns an image (or an index and its images) by digest,
// with the tags naming it.
func (s *Service) ImageDetail(ctx context.Context, digest string) (RegistryImageDetail, error) {
	var out RegistryImageDetail
	if !validDigest(digest) {
		return out, fmt.Errorf("%w: %q is not a sha256 digest", ErrInvalid, truncate(digest, 100))
	}
	mans, err := s.knownManifests(ctx, []string{digest})
	if err != nil {
		return out, err
	}
	m := mans[digest]
	if m == nil {
		return out, fmt.Errorf("registry image %s: %w", digest, ErrNotFound)
	}
	kids, err := s.knownManifests(ctx, m.children)
	if err != nil {
		return out, err
	}
	all := append([]string{digest}, m.children...)
	have, err := s.scans.DigestScans(ctx, all)
	if err != nil {
		return out, err
	}
	run, err := s.running(ctx)
	if err != nil {
		return out, err
	}
	out.RegistryImage = imageView(m, have, run)
	for _, c := range m.children {
		if km := kids[c]; km != nil {
			out.Index = append(out.Index, imageView(km, have, run))
		}
	}
	// The tags naming it, or an index it is part of.
	rows, err := s.st.Read().QueryContext(ctx, `SELECT t.id, t.account_id, t.repository_id, r.name, t.name, a.host, t.digest, t.media_type, t.pushed_at, t.size,
		t.platforms, t.first_seen, t.changed_at, t.last_seen, t.gone_at, t.gone_reason
		FROM registry_tags t JOIN registry_repositories r ON r.id = t.repository_id JOIN registry_accounts a ON a.id = t.account_id
		WHERE t.digest = ? OR t.digest IN (SELECT digest FROM registry_images WHERE kind = 'index' AND children LIKE ?)
		ORDER BY t.gone_at IS NOT NULL, r.name, t.name LIMIT 500`, digest, `%"`+digest+`"%`)
	if err != nil {
		return out, fmt.Errorf("tags of image %s: %w", digest, err)
	}
	out.Tags = []RegistryTag{}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			rows.Close()
			return out, fmt.Errorf("tags of image %s: %w", digest, err)
		}
		out.Tags = append(out.Tags, t)
	}
	if err := rows.Close(); err != nil {
		return out, err
	}
	return out, nil
}

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := store.FromMillis(n.Int64)
	return &t
}

// escapeLike drops the characters that would widen a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer("%", "", "_", "", "\\", "").Replace(s)
}

// cursor parses an offset cursor.
func cursor(c string) (int, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(c)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: cursor %q", ErrInvalid, truncate(c, 40))
	}
	return n, nil
}
