package registries

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/registries/provider"
	"github.com/riskmap/riskmap/internal/scans"
	"github.com/riskmap/riskmap/internal/store"
)

// Limits of one sync.
const (
	maxRepositories  = 20_000  // repositories an account syncs
	maxTagsPerRepo   = 100_000 // tags of one repository
	maxManifestBytes = 4 << 20 // a manifest or an image config
	maxIndexImages   = 64      // platforms of one index
)

// Kinds of registry_images rows.
const (
	imageKindImage = "image"
	imageKindIndex = "index"
	// imageKindArtifact is a manifest that is not a container image (a
	// Helm chart, a signature, an attestation): listed, never scanned.
	imageKindArtifact = "artifact"
	// imageKindUnsupported is a manifest the console cannot read (Docker
	// schema 1).
	imageKindUnsupported = "unsupported"
)

type syncPayload struct {
	AccountID string `json:"accountId"`
	Trigger   string `json:"trigger"`
}

// SyncKind is the registries.sync job kind: one account's catalogue,
// retried with backoff while the registry is unavailable; each attempt is
// a row of the account's sync history.
func (s *Service) SyncKind() jobs.Kind {
	return jobs.Kind{Name: KindSync, Concurrency: 2, MaxAttempts: s.cfg.SyncAttempts, Lease: time.Minute, Timeout: 2 * time.Hour,
		Backoff: jobs.DefaultBackoff(s.cfg.SyncBackoff, 30*time.Minute), OnState: s.onSyncState, Work: s.runSync}
}

// queueSyncTx queues a sync of an account (or returns the one waiting or
// running) in the caller's transaction.
func (s *Service) queueSyncTx(ctx context.Context, tx store.Querier, accountID, trigger string) (bool, error) {
	id, inserted, err := s.jobs.InsertTx(ctx, tx, KindSync, syncPayload{AccountID: accountID, Trigger: trigger},
		jobs.InsertOpts{UniqueKey: KindSync + ":" + accountID})
	if err != nil {
		return false, fmt.Errorf("queue sync of registry account %s: %w", accountID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE registry_accounts SET sync_job = ? WHERE id = ?`, id, accountID); err != nil {
		return false, fmt.Errorf("queue sync of registry account %s: %w", accountID, err)
	}
	return inserted, nil
}

// SyncNow queues a sync of an account (a sync already waiting or running
// is the one returned). A sync it queued is audited.
func (s *Service) SyncNow(ctx context.Context, id string) (RegistryAccount, error) {
	by, _ := caller(ctx)
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		a, err := getAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		inserted, err := s.queueSyncTx(ctx, tx, id, "requested by "+by)
		if err != nil || !inserted {
			return err
		}
		return s.st.AppendAuditTx(ctx, tx, console.Audit(ctx, store.AuditRegistrySync, a.auditTarget(), nil, nil))
	})
	if err != nil {
		return RegistryAccount{}, err
	}
	s.jobs.Wake()
	return s.Account(ctx, id)
}

// onSyncState closes the history rows of a sync attempt that ended
// without writing its outcome (its console stopped, or lost the lease).
func (s *Service) onSyncState(ctx context.Context, tx store.Querier, j jobs.Job) error {
	if j.State == jobs.Running {
		return nil
	}
	msg := "interrupted before it finished: " + j.Message
	if j.State == jobs.Cancelled {
		msg = "cancelled: " + j.Message
	}
	_, err := tx.ExecContext(ctx, `UPDATE registry_syncs SET status = ?, finished_at = ?, message = ? WHERE job_id = ? AND status = ?`,
		SyncError, store.Millis(s.now()), truncate(msg, 2000), j.ID, SyncRunning)
	return err
}

// runSync is one attempt of a registries.sync job.
func (s *Service) runSync(ctx context.Context, j jobs.Job) error {
	var p syncPayload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	a, err := getAccount(ctx, s.st.Read(), p.AccountID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Permanent(err)
	}
	if err != nil {
		return err
	}
	h := RegistrySync{ID: store.NewID(s.now()), JobID: j.ID, Attempt: j.Attempts, Trigger: p.Trigger, Status: SyncRunning, StartedAt: s.now().UTC()}
	err = s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO registry_syncs (id, account_id, job_id, attempt, trigger_by, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			h.ID, a.ID, j.ID, h.Attempt, truncate(h.Trigger, 300), SyncRunning, store.Millis(h.StartedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("record sync of registry account %s: %w", a.ID, err)
	}
	start := time.Now()
	res, serr := s.sync(ctx, a, &h)
	h.Repositories, h.Tags, h.NewTags, h.ChangedTags, h.GoneTags, h.NewImages, h.ScansQueued =
		res.repositories, res.tags, res.newTags, res.changedTags, res.goneTags, res.newImages, res.scansQueued
	h.Status, h.Message = SyncComplete, fmt.Sprintf("%d repositories, %d tags (%d new, %d changed, %d gone), %d new images, %d scans queued in %s",
		h.Repositories, h.Tags, h.NewTags, h.ChangedTags, h.GoneTags, h.NewImages, h.ScansQueued, time.Since(start).Round(time.Millisecond))
	if serr != nil {
		h.Status, h.Message = SyncError, serr.Error()
	}
	// The outcome is written even when the job's context ended.
	wctx := context.WithoutCancel(ctx)
	if err := s.finishSync(wctx, h); err != nil {
		s.log.Error("record sync outcome", "account", a.ID, "err", err)
	}
	if serr == nil {
		s.log.Info("registry catalogue synced", "account", a.ID, "name", a.Name, "summary", h.Message)
		return nil
	}
	s.log.Warn("registry catalogue sync failed", "account", a.ID, "name", a.Name, "attempt", j.Attempts, "err", serr)
	switch {
	case ctx.Err() != nil:
		return serr
	case errors.Is(serr, provider.ErrUnavailable):
		// Down or unreachable (its error may also carry the plain HTTP
		// fallback refused): worth another attempt.
		return serr
	case errors.Is(serr, ErrInvalid), errors.Is(serr, provider.ErrUnauthorized), errors.Is(serr, ErrPlainHTTP):
		// Settings or credentials: retrying cannot mend them.
		return jobs.Permanent(serr)
	}
	return serr
}

func (s *Service) finishSync(ctx context.Context, h RegistrySync) error {
	return s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE registry_syncs SET status = ?, finished_at = ?, repositories = ?, tags = ?, new_tags = ?, changed_tags = ?,
			gone_tags = ?, new_images = ?, scans_queued = ?, message = ? WHERE id = ?`,
			h.Status, store.Millis(s.now()), h.Repositories, h.Tags, h.NewTags, h.ChangedTags, h.GoneTags, h.NewImages, h.ScansQueued,
			truncate(h.Message, 2000), h.ID)
		return err
	})
}

// progress records where a running sync stands in its history row.
func (s *Service) progress(ctx context.Context, h *RegistrySync, msg string) {
	_ = s.st.Tx(ctx, func(tx store.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE registry_syncs SET message = ? WHERE id = ? AND status = ?`, truncate(msg, 500), h.ID, SyncRunning)
		return err
	})
}

type syncResult struct {
	repositories, tags, newTags, changedTags, goneTags, newImages, scansQueued int
}

// manifest is what a sync learns of one manifest by digest.
type manifest struct {
	digest, kind, mediaType, configDigest, platform string
	size                                            int64
	created                                         *time.Time
	children                                        []string
	known                                           bool // already in registry_images
	// childPlatforms are the platforms an index gives its images (used
	// when an image's config names none).
	childPlatforms map[string]string
}

// foundTag is a tag as listed and resolved.
type foundTag struct {
	provider.Tag
	pushed    *time.Time
	platforms []string
	size      int64
}

// sync lists an account's catalogue, resolves its tags to images and
// stores what changed; repositories and tags the listing no longer has
// are marked gone only when the listing completed.
func (s *Service) sync(ctx context.Context, a RegistryAccount, h *RegistrySync) (syncResult, error) {
	var res syncResult
	var secrets map[string]string
	if len(a.secretNames) > 0 {
		var err error
		if secrets, err = s.secretsOf(ctx, a.ID); err != nil {
			return res, err
		}
	}
	cn, err := s.connect(a, secrets)
	if err != nil {
		return res, err
	}
	defer cn.close()
	sel, err := a.Filters.Compile()
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	auth, err := cn.reg.Authenticator(ctx)
	if err != nil {
		return res, fmt.Errorf("pull credentials: %w", err)
	}
	// One puller for the whole sync: its token per repository is reused.
	puller, err := remote.NewPuller(remote.WithAuth(auth), remote.WithTransport(cn.transport),
		remote.WithRetryBackoff(remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}))
	if err != nil {
		return res, err
	}
	host := cn.reg.Host()

	var repos []string
	listed := map[string]bool{}
	err = cn.reg.Repositories(ctx, func(page []string) error {
		for _, r := range page {
			if listed[r] {
				continue
			}
			listed[r] = true
			if sel.Repository(r) {
				repos = append(repos, r)
			}
		}
		if len(listed) > maxRepositories {
			return fmt.Errorf("more than %d repositories: narrow the account with repository filters", maxRepositories)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("list repositories of %s: %w", host, err)
	}
	sort.Strings(repos)
	res.repositories = len(repos)
	for i, repo := range repos {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		s.progress(ctx, h, fmt.Sprintf("repository %d of %d: %s", i+1, len(repos), repo))
		if err := s.syncRepository(ctx, a, cn.reg, host, puller, sel, repo, &res); err != nil {
			return res, fmt.Errorf("repository %s: %w", repo, err)
		}
	}
	// The whole listing is in: what it no longer has is gone.
	gone, err := s.markGoneRepositories(ctx, a.ID, repos, listed)
	if err != nil {
		return res, err
	}
	res.goneTags += gone
	if a.AutoScan {
		n, err := s.autoScan(ctx, a)
		res.scansQueued = n
		if err != nil {
			return res, fmt.Errorf("auto-scan: %w", err)
		}
	}
	return res, nil
}

// syncRepository lists, resolves and stores one repository's tags.
func (s *Service) syncRepository(ctx context.Context, a RegistryAccount, reg provider.Registry, host string, puller *remote.Puller, sel *Selector,
	repo string, res *syncResult) error {
	var tags []foundTag
	listedTags := map[string]bool{}
	err := reg.Tags(ctx, repo, func(page []provider.Tag) error {
		for _, t := range page {
			if listedTags[t.Name] {
				continue
			}
			listedTags[t.Name] = true
			if sel.Tag(t.Name) {
				tags = append(tags, foundTag{Tag: t})
			}
		}
		if len(listedTags) > maxTagsPerRepo {
			return fmt.Errorf("more than %d tags: narrow the account with a tag filter", maxTagsPerRepo)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ref, err := name.NewRepository(host+"/"+repo, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("%w: repository name %q: %w", ErrInvalid, repo, err)
	}
	// Digests of the tags the API did not resolve.
	err = parallel(ctx, s.cfg.ResolveConcurrency, len(tags), func(ctx context.Context, i int) error {
		t := &tags[i]
		if t.Digest != "" {
			return nil
		}
		d, err := puller.Head(ctx, ref.Tag(t.Name))
		if err != nil {
			if isNotFound(err) {
				t.Digest = "" // deleted meanwhile
				return nil
			}
			return fmt.Errorf("tag %s: %w", t.Name, classify(err))
		}
		// (d.Size is the manifest's size, not the image's.)
		t.Digest, t.MediaType = d.Digest.String(), string(d.MediaType)
		return nil
	})
	if err != nil {
		return err
	}
	tags = slices.DeleteFunc(tags, func(t foundTag) bool { return t.Digest == "" })
	// Manifests of the digests not seen before, indexes' images too.
	mans, err := s.resolveManifests(ctx, puller, ref, tags)
	if err != nil {
		return err
	}
	now := s.now()
	for i := range tags {
		t := &tags[i]
		m := mans[t.Digest]
		if m == nil {
			continue
		}
		if t.MediaType == "" {
			t.MediaType = m.mediaType
		}
		switch m.kind {
		case imageKindIndex:
			var newest *time.Time
			for _, c := range m.children {
				cm := mans[c]
				if cm == nil {
					continue
				}
				if cm.platform != "" {
					t.platforms = append(t.platforms, cm.platform)
				}
				t.size = max(t.size, cm.size)
				if cm.created != nil && (newest == nil || cm.created.After(*newest)) {
					newest = cm.created
				}
			}
			if t.Pushed.IsZero() {
				t.pushed = newest
			}
		default:
			if m.platform != "" {
				t.platforms = []string{m.platform}
			}
			t.size = m.size
			if t.Pushed.IsZero() {
				t.pushed = m.created
			}
		}
		if !t.Pushed.IsZero() {
			p := t.Pushed.UTC()
			t.pushed = &p
		}
		if t.Size > 0 {
			t.size = t.Size
		}
		slices.Sort(t.platforms)
	}
	// The latest N by push time (unknown times count as oldest; ties by
	// name).
	filtered := map[string]bool{}
	if n := sel.Latest(); n > 0 && len(tags) > n {
		slices.SortStableFunc(tags, func(x, y foundTag) int {
			switch {
			case x.pushed == nil && y.pushed == nil:
				return strings.Compare(x.Name, y.Name)
			case x.pushed == nil:
				return 1
			case y.pushed == nil:
				return -1
			}
			if c := y.pushed.Compare(*x.pushed); c != 0 {
				return c
			}
			return strings.Compare(x.Name, y.Name)
		})
		for _, t := range tags[n:] {
			filtered[t.Name] = true
		}
		tags = tags[:n]
	}
	for t := range listedTags {
		if !sel.Tag(t) {
			filtered[t] = true
		}
	}
	return s.storeRepository(ctx, a, repo, tags, mans, filtered, now, res)
}

// resolveManifests reads the manifests of the tags' digests that are not
// known yet (and the images of indexes), with their configs.
func (s *Service) resolveManifests(ctx context.Context, puller *remote.Puller, repo name.Repository, tags []foundTag) (map[string]*manifest, error) {
	digests := make([]string, 0, len(tags))
	for _, t := range tags {
		digests = append(digests, t.Digest)
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	mans, err := s.knownManifests(ctx, digests)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	fetch := func(ds []string) error {
		var todo []string
		mu.Lock()
		for _, d := range ds {
			if mans[d] == nil {
				todo = append(todo, d)
			}
		}
		mu.Unlock()
		return parallel(ctx, s.cfg.ResolveConcurrency, len(todo), func(ctx context.Context, i int) error {
			m, err := readManifest(ctx, puller, repo, todo[i])
			if err != nil {
				return err
			}
			mu.Lock()
			mans[todo[i]] = m
			mu.Unlock()
			return nil
		})
	}
	if err := fetch(digests); err != nil {
		return nil, err
	}
	var children []string
	for _, d := range digests {
		if m := mans[d]; m != nil && m.kind == imageKindIndex {
			children = append(children, m.children...)
		}
	}
	slices.Sort(children)
	children = slices.Compact(children)
	known, err := s.knownManifests(ctx, children)
	if err != nil {
		return nil, err
	}
	for d, m := range known {
		if mans[d] == nil {
			mans[d] = m
		}
	}
	if err := fetch(children); err != nil {
		return nil, err
	}
	// An image whose config names no platform takes its index's.
	for _, d := range digests {
		idx := mans[d]
		if idx == nil || idx.kind != imageKindIndex {
			continue
		}
		for c, p := range idx.childPlatforms {
			if m := mans[c]; m != nil && !m.known && m.platform == "" {
				m.platform = p
			}
		}
	}
	return mans, nil
}

// knownManifests reads the stored manifests among digests.
func (s *Service) knownManifests(ctx context.Context, digests []string) (map[string]*manifest, error) {
	out := map[string]*manifest{}
	for i := 0; i < len(digests); i += 400 {
		part := digests[i:min(i+400, len(digests))]
		args := make([]any, len(part))
		for k, d := range part {
			args[k] = d
		}
		rows, err := s.st.Read().QueryContext(ctx, `SELECT digest, kind, media_type, config_digest, platform, size, created_at, children
			FROM registry_images WHERE digest IN (`+placeholders(len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("registry images: %w", err)
		}
		for rows.Next() {
			m := &manifest{known: true}
			var created sql.NullInt64
			var children string
			if err := rows.Scan(&m.digest, &m.kind, &m.mediaType, &m.configDigest, &m.platform, &m.size, &created, &children); err != nil {
				rows.Close()
				return nil, fmt.Errorf("registry images: %w", err)
			}
			if created.Valid {
				t := store.FromMillis(created.Int64)
				m.created = &t
			}
			_ = json.Unmarshal([]byte(children), &m.children)
			out[m.digest] = m
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("registry images: %w", err)
		}
	}
	return out, nil
}

// readManifest reads one manifest by digest and, for an image, its
// config (platform, creation time).
func readManifest(ctx context.Context, puller *remote.Puller, repo name.Repository, digest string) (*manifest, error) {
	d, err := puller.Get(ctx, repo.Digest(digest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, classify(err))
	}
	if len(d.Manifest) > maxManifestBytes {
		return nil, fmt.Errorf("manifest %s: larger than %d bytes", digest, maxManifestBytes)
	}
	m := &manifest{digest: digest, mediaType: string(d.MediaType), size: d.Size}
	switch {
	case d.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", errUnreadable, digest, err)
		}
		m.kind = imageKindIndex
		for _, c := range idx.Manifests {
			// Attestations (buildx: platform unknown/unknown) are not images
			// to scan; an image without a platform in the index gets the
			// one its config says.
			if !c.MediaType.IsImage() || (c.Platform != nil && c.Platform.OS == "unknown") ||
				c.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				continue
			}
			m.children = append(m.children, c.Digest.String())
			if c.Platform != nil {
				if m.childPlatforms == nil {
					m.childPlatforms = map[string]string{}
				}
				m.childPlatforms[c.Digest.String()] = platformString(c.Platform.OS, c.Platform.Architecture, c.Platform.Variant)
			}
			if len(m.children) == maxIndexImages {
				break
			}
		}
		slices.Sort(m.children)
		m.children = slices.Compact(m.children)
	case d.MediaType.IsImage():
		mf, err := v1.ParseManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return nil, fmt.Errorf("%w: manifest %s: %w", errUnreadable, digest, err)
		}
		m.kind, m.configDigest = imageKindImage, mf.Config.Digest.String()
		m.size = mf.Config.Size
		for _, l := range mf.Layers {
			m.size += l.Size
		}
		if mf.Config.MediaType != types.DockerConfigJSON && mf.Config.MediaType != types.OCIConfigJSON {
			// An OCI artifact (a chart, a signature): not an image to scan.
			m.kind = imageKindArtifact
			return m, nil
		}
		if err := readConfig(ctx, puller, repo, mf.Config, m); err != nil {
			return nil, fmt.Errorf("config of %s: %w", digest, err)
		}
	default:
		m.kind = imageKindUnsupported
	}
	return m, nil
}

func readConfig(ctx context.Context, puller *remote.Puller, repo name.Repository, desc v1.Descriptor, m *manifest) error {
	if desc.Size > maxManifestBytes {
		return fmt.Errorf("larger than %d bytes", maxManifestBytes)
	}
	l, err := puller.Layer(ctx, repo.Digest(desc.Digest.String()))
	if err != nil {
		return classify(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return classify(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return classify(err)
	}
	if len(b) > maxManifestBytes {
		return fmt.Errorf("larger than %d bytes", maxManifestBytes)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		// An image with an odd config is still an image; the platform
		// and creation time stay unknown.
		return nil
	}
	m.platform = platformString(cf.OS, cf.Architecture, cf.Variant)
	if !cf.Created.IsZero() && cf.Created.Year() > 1970 {
		t := cf.Created.UTC().Truncate(time.Millisecond)
		m.created = &t
	}
	return nil
}

func platformString(os, arch, variant string) string {
	if os == "" && arch == "" {
		return ""
	}
	p := os + "/" + arch
	if variant != "" {
		p += "/" + variant
	}
	return p
}

// storeRepository writes one repository's tags and images; its tags not
// selected any more are marked gone.
func (s *Service) storeRepository(ctx context.Context, a RegistryAccount, repo string, tags []foundTag, mans map[string]*manifest,
	filtered map[string]bool, now time.Time, res *syncResult) error {
	at := store.Millis(now)
	return s.st.Tx(ctx, func(tx store.Querier) error {
		var repoID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM registry_repositories WHERE account_id = ? AND name = ?`, a.ID, repo).Scan(&repoID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			repoID = store.NewID(now)
			if _, err := tx.ExecContext(ctx, `INSERT INTO registry_repositories (id, account_id, name, tag_count, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)`,
				repoID, a.ID, repo, len(tags), at, at); err != nil {
				return fmt.Errorf("store repository %s: %w", repo, err)
			}
		case err != nil:
			return fmt.Errorf("store repository %s: %w", repo, err)
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE registry_repositories SET tag_count = ?, last_seen = ?, gone_at = NULL WHERE id = ?`,
				len(tags), at, repoID); err != nil {
				return fmt.Errorf("store repository %s: %w", repo, err)
			}
		}
		// Images first seen.
		for _, m := range mans {
			if m.known {
				continue
			}
			children, _ := json.Marshal(m.children)
			if m.children == nil {
				children = []byte("[]")
			}
			var created any
			if m.created != nil {
				created = store.Millis(*m.created)
			}
			r, err := tx.ExecContext(ctx, `INSERT INTO registry_images (digest, kind, media_type, config_digest, platform, size, created_at, children, first_seen)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING`,
				m.digest, m.kind, m.mediaType, m.configDigest, m.platform, m.size, created, string(children), at)
			if err != nil {
				return fmt.Errorf("store image %s: %w", m.digest, err)
			}
			if n, _ := r.RowsAffected(); n == 1 && m.kind == imageKindImage {
				res.newImages++
			}
			m.known = true
		}
		// The stored tags of the repository.
		type stored struct {
			id, digest string
			gone       bool
		}
		have := map[string]stored{}
		rows, err := tx.QueryContext(ctx, `SELECT id, name, digest, gone_at FROM registry_tags WHERE repository_id = ?`, repoID)
		if err != nil {
			return fmt.Errorf("tags of %s: %w", repo, err)
		}
		for rows.Next() {
			var st stored
			var n string
			var gone sql.NullInt64
			if err := rows.Scan(&st.id, &n, &st.digest, &gone); err != nil {
				rows.Close()
				return fmt.Errorf("tags of %s: %w", repo, err)
			}
			st.gone = gone.Valid
			have[n] = st
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("tags of %s: %w", repo, err)
		}
		seen := map[string]bool{}
		for _, t := range tags {
			seen[t.Name] = true
			platforms, _ := json.Marshal(t.platforms)
			if t.platforms == nil {
				platforms = []byte("[]")
			}
			var pushed any
			if t.pushed != nil {
				pushed = store.Millis(*t.pushed)
			}
			old, ok := have[t.Name]
			switch {
			case !ok:
				res.newTags++
				_, err = tx.ExecContext(ctx, `INSERT INTO registry_tags (id, account_id, repository_id, name, digest, media_type, pushed_at, size, platforms,
					first_seen, changed_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					store.NewID(now), a.ID, repoID, t.Name, t.Digest, t.MediaType, pushed, t.size, string(platforms), at, at, at)
			case old.digest != t.Digest:
				res.changedTags++
				_, err = tx.ExecContext(ctx, `UPDATE registry_tags SET digest = ?, media_type = ?, pushed_at = ?, size = ?, platforms = ?, changed_at = ?,
					last_seen = ?, gone_at = NULL, gone_reason = '' WHERE id = ?`, t.Digest, t.MediaType, pushed, t.size, string(platforms), at, at, old.id)
			default:
				if old.gone {
					res.newTags++
				}
				_, err = tx.ExecContext(ctx, `UPDATE registry_tags SET media_type = ?, pushed_at = ?, size = ?, platforms = ?, last_seen = ?,
					gone_at = NULL, gone_reason = '' WHERE id = ?`, t.MediaType, pushed, t.size, string(platforms), at, old.id)
			}
			if err != nil {
				return fmt.Errorf("store tag %s:%s: %w", repo, t.Name, err)
			}
		}
		res.tags += len(tags)
		for n, old := range have {
			if seen[n] || old.gone {
				continue
			}
			reason := "removed from the registry"
			if filtered[n] {
				reason = "left out by the account's filters"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE registry_tags SET gone_at = ?, gone_reason = ? WHERE id = ?`, at, reason, old.id); err != nil {
				return fmt.Errorf("tag %s:%s gone: %w", repo, n, err)
			}
			res.goneTags++
		}
		return nil
	})
}

// markGoneRepositories marks gone the account's repositories that are not
// among synced (and their tags), returning the tags it marked.
func (s *Service) markGoneRepositories(ctx context.Context, accountID string, synced []string, listed map[string]bool) (int, error) {
	keep := map[string]bool{}
	for _, r := range synced {
		keep[r] = true
	}
	gone := 0
	now := store.Millis(s.now())
	err := s.st.Tx(ctx, func(tx store.Querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, name FROM registry_repositories WHERE account_id = ? AND gone_at IS NULL`, accountID)
		if err != nil {
			return err
		}
		type repo struct{ id, name string }
		var drop []repo
		for rows.Next() {
			var r repo
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return err
			}
			if !keep[r.name] {
				drop = append(drop, r)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, r := range drop {
			reason := "repository removed from the registry"
			if listed[r.name] {
				reason = "repository left out by the account's filters"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE registry_repositories SET gone_at = ? WHERE id = ?`, now, r.id); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE registry_tags SET gone_at = ?, gone_reason = ? WHERE repository_id = ? AND gone_at IS NULL`, now, reason, r.id)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			gone += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark gone repositories of registry account %s: %w", accountID, err)
	}
	return gone, nil
}

// autoScan queues scans of the account's images (named by its live tags)
// that were never scanned.
func (s *Service) autoScan(ctx context.Context, a RegistryAccount) (int, error) {
	imgs, err := s.liveImages(ctx, a.ID)
	if err != nil {
		return 0, err
	}
	digests := make([]string, 0, len(imgs))
	for d := range imgs {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	have, err := s.scans.DigestScans(ctx, digests)
	if err != nil {
		return 0, err
	}
	var targets []scans.Target
	for _, d := range digests {
		if _, scanned := have[d]; scanned {
			continue
		}
		targets = append(targets, s.scanTarget(a, imgs[d], d))
	}
	queued := 0
	for i := 0; i < len(targets); i += 500 {
		got, err := s.scans.StartImageScans(ctx, KindScan, targets[i:min(i+500, len(targets))], "auto-scan of registry account "+a.Name, nil)
		if err != nil {
			return queued, err
		}
		queued += len(got)
	}
	if queued > 0 {
		s.jobs.Wake()
	}
	return queued, nil
}

// scanTarget is the scan target of an image of an account, named in repo.
func (s *Service) scanTarget(a RegistryAccount, repo, digest string) scans.Target {
	t := scans.Target{Kind: scans.KindRegistry, Ref: a.Host + "/" + repo + "@" + digest}
	if a.ScanBy != ScanByConsole {
		t.SensorID = a.ScanBy
	}
	return t
}

// liveImages are the scannable images the account's live tags name
// (indexes resolved), each with a repository that names it.
func (s *Service) liveImages(ctx context.Context, accountID string) (map[string]string, error) {
	rows, err := s.st.Read().QueryContext(ctx, `SELECT t.digest, r.name, i.kind, i.children FROM registry_tags t
		JOIN registry_repositories r ON r.id = t.repository_id JOIN registry_images i ON i.digest = t.digest
		WHERE t.account_id = ? AND t.gone_at IS NULL ORDER BY r.name, t.name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("images of registry account %s: %w", accountID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var digest, repo, kind, children string
		if err := rows.Scan(&digest, &repo, &kind, &children); err != nil {
			return nil, fmt.Errorf("images of registry account %s: %w", accountID, err)
		}
		switch kind {
		case imageKindImage:
			if _, ok := out[digest]; !ok {
				out[digest] = repo
			}
		case imageKindIndex:
			var cs []string
			_ = json.Unmarshal([]byte(children), &cs)
			for _, c := range cs {
				if _, ok := out[c]; !ok {
					out[c] = repo
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Children of indexes are images only if they are stored as such.
	if len(out) > 0 {
		digests := make([]string, 0, len(out))
		for d := range out {
			digests = append(digests, d)
		}
		known, err := s.knownManifests(ctx, digests)
		if err != nil {
			return nil, err
		}
		for d := range out {
			if m := known[d]; m == nil || m.kind != imageKindImage {
				delete(out, d)
			}
		}
	}
	return out, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// parallel runs fn for 0..n-1 on at most k goroutines and returns the
// first error (the others' contexts are cancelled).
func parallel(ctx context.Context, k, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(k, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next == n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
