package secrets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskmap/riskmap/internal/jobs"
	"github.com/riskmap/riskmap/internal/store"
)

// ErrNotFound is returned for a secret that is not stored.
var ErrNotFound = errors.New("secret not found")

// Vault stores sealed secrets in the secrets table (its owner).
type Vault struct {
	st   *store.Store
	ring *Keyring
	now  func() time.Time
	log  *slog.Logger
}

// NewVault returns the vault on st sealing with ring.
func NewVault(st *store.Store, ring *Keyring, log *slog.Logger, now func() time.Time) *Vault {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Vault{st: st, ring: ring, now: now, log: log}
}

// Keyring is the vault's keyring.
func (v *Vault) Keyring() *Keyring { return v.ring }

// name is what a sealed value is bound to.
func name(owner, ref string) string { return owner + "/" + ref }

// PutTx stores value as the secret (owner, ref), replacing any, in the
// caller's transaction (with the change that refers to it).
func (v *Vault) PutTx(ctx context.Context, tx store.Querier, orgID, owner, ref string, value []byte) error {
	if owner == "" || ref == "" {
		return errors.New("store secret: empty owner or ref")
	}
	sealed, err := v.ring.Seal(value, name(owner, ref))
	if err != nil {
		return fmt.Errorf("store secret %s: %w", name(owner, ref), err)
	}
	keyID, _ := KeyOf(sealed)
	now := store.Millis(v.now())
	_, err = tx.ExecContext(ctx, `INSERT INTO secrets (id, org_id, owner, ref, key_id, sealed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner, ref) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, updated_at = excluded.updated_at`,
		store.NewID(v.now()), orgID, owner, ref, keyID, sealed, now, now)
	if err != nil {
		return fmt.Errorf("store secret %s: %w", name(owner, ref), err)
	}
	return nil
}

// Put stores a secret in a transaction of its own.
func (v *Vault) Put(ctx context.Context, orgID, owner, ref string, value []byte) error {
	return v.st.Tx(ctx, func(tx store.Querier) error { return v.PutTx(ctx, tx, orgID, owner, ref, value) })
}

// Get opens the secret (owner, ref).
func (v *Vault) Get(ctx context.Context, owner, ref string) ([]byte, error) {
	var sealed string
	err := v.st.Read().QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE owner = ? AND ref = ?`, owner, ref).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", name(owner, ref), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name(owner, ref), err)
	}
	pt, err := v.ring.Open(sealed, name(owner, ref))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name(owner, ref), err)
	}
	return pt, nil
}

// DeleteTx removes the secret (owner, ref), if any.
func (v *Vault) DeleteTx(ctx context.Context, tx store.Querier, owner, ref string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE owner = ? AND ref = ?`, owner, ref); err != nil {
		return fmt.Errorf("delete secret %s: %w", name(owner, ref), err)
	}
	return nil
}

// KeyUse counts the stored secrets by the key that sealed them.
func (v *Vault) KeyUse(ctx context.Context) (map[string]int, error) {
	rows, err := v.st.Read().QueryContext(ctx, `SELECT key_id, COUNT(*) FROM secrets GROUP BY key_id`)
	if err != nil {
		return nil, fmt.Errorf("count secrets by key: %w", err)
	}
	defer rows.Close()
	use := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		use[id] = n
	}
	return use, rows.Err()
}

// Reseal seals again, under the primary key, every secret an older key
// sealed, a batch at a time, and returns how many it re-sealed. A secret
// changed meanwhile is left to its writer (who sealed it with the
// primary). A secret that does not open is reported and left as it is.
func (v *Vault) Reseal(ctx context.Context) (int, error) {
	primary := v.ring.Primary()
	done := 0
	var failed []error
	after := ""
	for {
		type row struct{ id, owner, ref, sealed string }
		var batch []row
		rows, err := v.st.Read().QueryContext(ctx, `SELECT id, owner, ref, sealed FROM secrets WHERE key_id <> ? AND id > ? ORDER BY id LIMIT 100`, primary, after)
		if err != nil {
			return done, fmt.Errorf("re-seal secrets: %w", err)
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.owner, &r.ref, &r.sealed); err != nil {
				rows.Close()
				return done, err
			}
			batch = append(batch, r)
		}
		if err := rows.Close(); err != nil {
			return done, err
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].id
		err = v.st.Tx(ctx, func(tx store.Querier) error {
			for _, r := range batch {
				pt, err := v.ring.Open(r.sealed, name(r.owner, r.ref))
				if err != nil {
					failed = append(failed, fmt.Errorf("secret %s: %w", name(r.owner, r.ref), err))
					continue
				}
				sealed, err := v.ring.Seal(pt, name(r.owner, r.ref))
				if err != nil {
					return err
				}
				keyID, _ := KeyOf(sealed)
				res, err := tx.ExecContext(ctx, `UPDATE secrets SET key_id = ?, sealed = ? WHERE id = ? AND sealed = ?`, keyID, sealed, r.id, r.sealed)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					done++
				}
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("re-seal secrets: %w", err)
		}
	}
	if len(failed) > 0 {
		return done, errors.Join(failed...)
	}
	return done, nil
}

// KindReseal is the job kind that re-seals secrets after a rotation.
const KindReseal = "secrets.reseal"

// ResealKind is the secrets.reseal job (periodic: a rotation done on the
// key file is finished within the hour by whichever console runs it).
func (v *Vault) ResealKind() jobs.Kind {
	return jobs.Kind{Name: KindReseal, MaxAttempts: 3, Timeout: time.Hour, Work: func(ctx context.Context, _ jobs.Job) error {
		n, err := v.Reseal(ctx)
		if n > 0 {
			v.log.Info("re-sealed secrets under the primary key", "count", n, "key", v.ring.Primary())
		}
		return err
	}}
}

// ResealEvery is the periodic schedule of secrets.reseal.
func ResealEvery() jobs.Periodic {
	return jobs.Periodic{Name: KindReseal, Kind: KindReseal, Every: time.Hour}
}
