package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one security-relevant action: who (actor, and how they
// authenticated), what (action), on what (target), the state before and
// after, and from where (client address).
type AuditEntry struct {
	ID         string
	OrgID      string
	Time       time.Time
	ActorID    string // empty for anonymous or system actions
	Actor      string // email, "anonymous" or "system"
	Action     string // e.g. login, login.failed, user.update, scan.start
	Target     string
	ClientAddr string
	Detail     string
	// Via is how the actor authenticated (the Via* constants); empty for
	// anonymous requests and entries older than the column.
	Via string
	// Before and After are the target's state around the change, as JSON
	// (nil when the action has none).
	Before, After json.RawMessage
}

// Audit actions recorded by the console.
const (
	AuditRegister          = "register"
	AuditLogin             = "login"
	AuditLoginFailed       = "login.failed"
	AuditLoginLimited      = "login.rate_limited"
	AuditLogout            = "logout"
	AuditPasswordChange    = "password.change"
	AuditPasswordReset     = "password.reset"
	AuditPasswordResetLink = "password.reset_link"
	AuditAPIKeyReset       = "api_key.reset"
	AuditTokenExchange     = "token.exchange"
	AuditTokenReuse        = "token.reuse"
	AuditInviteCreate      = "invitation.create"
	AuditInviteDelete      = "invitation.delete"
	AuditInviteAccept      = "invitation.accept"
	AuditUserUpdate        = "user.update"
	AuditUserDelete        = "user.delete"
)

// Audit actions recorded by the console's modules, each in the transaction
// of its change (AppendAuditTx). Names are dotted so that a prefix selects
// an area: "scan." every scan action, "finding." every finding decision.
const (
	AuditDecisionCreate = "finding.decision.create" // internal/findings: a risk acceptance or not-affected decision
	AuditDecisionRevoke = "finding.decision.revoke"
	// internal/reports: a scheduled findings report made or removed.
	AuditReportScheduleCreate = "report_schedule.create"
	AuditReportScheduleDelete = "report_schedule.delete"
	AuditScanStart            = "scan.start" // internal/scans: one entry per request, listing the scans it queued
	AuditScanCancel           = "scan.cancel"
	AuditScheduleCreate       = "scan.schedule.create"
	AuditScheduleDelete       = "scan.schedule.delete"
	AuditScanSettings         = "scan.settings.update"
	AuditFeedsImport          = "feeds.import" // internal/feeds: an uploaded feed file or bundle
	AuditFeedsUpdate          = "feeds.update" // internal/feeds: by an admin's request, or by the periodic job
	// internal/integrations: destinations (secrets recorded as set or not,
	// never their values), their rules, test sends, dead letters.
	AuditIntegrationCreate     = "integration.create"
	AuditIntegrationUpdate     = "integration.update"
	AuditIntegrationDelete     = "integration.delete"
	AuditIntegrationRuleCreate = "integration.rule.create"
	AuditIntegrationRuleUpdate = "integration.rule.update"
	AuditIntegrationRuleDelete = "integration.rule.delete"
	AuditIntegrationTest       = "integration.test"
	AuditIntegrationDeadRetry  = "integration.dead.retry"
	AuditIntegrationDeadDrop   = "integration.dead.discard"
	// internal/registries: accounts (secrets recorded as set, never their
	// values), syncs and scans a user asked for.
	AuditRegistryAccountCreate = "registry.account.create"
	AuditRegistryAccountUpdate = "registry.account.update"
	AuditRegistryAccountDelete = "registry.account.delete"
	AuditRegistrySync          = "registry.sync"
	AuditRegistryScan          = "registry.scan"
)

// How an audit entry's actor authenticated (AuditEntry.Via).
const (
	ViaSession        = "session"         // the browser session cookie
	ViaAPIKey         = "api_key"         // Authorization: Bearer rmk_...
	ViaAccessToken    = "access_token"    // Authorization: Bearer <access token>
	ViaSensor         = "sensor"          // a sensor's own credential
	ViaEnrolmentToken = "enrolment_token" // a sensor enrolling
	ViaJob            = "job"             // the console's own job (actor AuditSystem)
	ViaSystem         = "system"          // the console itself, outside any request or job
)

// AuditSystem is the actor of changes the console makes on its own.
const AuditSystem = "system"

// AppendAudit records an entry in a transaction of its own (ID and Time are
// filled in when empty).
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	e = s.fillAudit(e)
	if err := s.Tx(ctx, func(q Querier) error { return insertAudit(ctx, q, e) }); err != nil {
		return AuditEntry{}, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return e, nil
}

// AppendAuditTx records an entry in tx, the transaction of the change it
// describes: the entry exists exactly when the change commits. A module
// calls it before it publishes its events (events come last).
func (s *Store) AppendAuditTx(ctx context.Context, tx Querier, e AuditEntry) error {
	e = s.fillAudit(e)
	if err := insertAudit(ctx, tx, e); err != nil {
		return fmt.Errorf("append audit %s on %s: %w", e.Action, e.Target, err)
	}
	return nil
}

func (s *Store) fillAudit(e AuditEntry) AuditEntry {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.ID == "" {
		e.ID = NewID(e.Time)
	}
	e.Time = FromMillis(Millis(e.Time))
	return e
}

func insertAudit(ctx context.Context, q Querier, e AuditEntry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit_log (id, org_id, at, actor_id, actor, action, target, client_addr, detail, via, before_state, after_state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, nullable(e.OrgID), Millis(e.Time), nullable(e.ActorID), e.Actor, e.Action, e.Target, e.ClientAddr, e.Detail, e.Via,
		string(e.Before), string(e.After))
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AuditFilter selects audit entries; the zero value selects every entry.
// Text comparisons ignore the case of ASCII letters.
type AuditFilter struct {
	// ActionPrefix: the action starts with it ("scan." or "login").
	ActionPrefix string
	// Actor: the actor is it (an email, "system" or "anonymous").
	Actor string
	// Target: the target contains it.
	Target string
	// Since and Until bound the entry's time: Since <= time < Until (a
	// zero time does not bound).
	Since, Until time.Time
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '\'.
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace

func (f AuditFilter) where(before string) (string, []any) {
	var w Where
	if f.ActionPrefix != "" {
		w.Add(`LOWER(action) LIKE ? ESCAPE '\'`, likeEscape(strings.ToLower(f.ActionPrefix))+"%")
	}
	if f.Actor != "" {
		w.Add(`LOWER(actor) = ?`, strings.ToLower(f.Actor))
	}
	if f.Target != "" {
		w.Add(`LOWER(target) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(f.Target))+"%")
	}
	if !f.Since.IsZero() {
		w.Add(`at >= ?`, Millis(f.Since))
	}
	if !f.Until.IsZero() {
		w.Add(`at < ?`, Millis(f.Until))
	}
	if before != "" {
		w.Add(`id < ?`, before)
	}
	return w.SQL(), w.Args()
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, p Page) ([]AuditEntry, string, error) {
	return s.FindAudit(ctx, AuditFilter{}, p)
}

// FindAudit returns the audit entries f selects, newest first, a page at a
// time; next is the cursor of the following page ("" on the last).
func (s *Store) FindAudit(ctx context.Context, f AuditFilter, p Page) (out []AuditEntry, next string, err error) {
	lim := p.limit()
	out, err = s.queryAudit(ctx, f, p.Cursor, lim+1)
	if err != nil {
		return nil, "", err
	}
	if len(out) > lim {
		out = out[:lim]
		next = out[lim-1].ID
	}
	return out, next, nil
}

// auditBatch is how many entries EachAudit reads per query: a long export
// never holds a read connection while its client is slow.
const auditBatch = 1000

// EachAudit calls fn with the entries f selects, newest first, at most max
// of them (max > 0); more reports that further entries were left out. It
// reads in batches of its own, so fn may write to a slow client.
func (s *Store) EachAudit(ctx context.Context, f AuditFilter, max int, fn func(AuditEntry) error) (n int, more bool, err error) {
	cursor := ""
	for n < max {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		want := min(auditBatch, max-n)
		// One entry more than wanted says whether there are more.
		batch, err := s.queryAudit(ctx, f, cursor, want+1)
		if err != nil {
			return n, false, err
		}
		for _, e := range batch[:min(want, len(batch))] {
			if err := fn(e); err != nil {
				return n, false, err
			}
			n++
			cursor = e.ID
		}
		if len(batch) <= want {
			return n, false, nil
		}
	}
	return n, true, nil
}

func (s *Store) queryAudit(ctx context.Context, f AuditFilter, before string, limit int) ([]AuditEntry, error) {
	where, args := f.where(before)
	rows, err := s.Read().QueryContext(ctx, `SELECT id, org_id, at, actor_id, actor, action, target, client_addr, detail, via, before_state, after_state
		FROM audit_log`+where+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var org, actor sql.NullString
		var at int64
		var before, after string
		if err := rows.Scan(&e.ID, &org, &at, &actor, &e.Actor, &e.Action, &e.Target, &e.ClientAddr, &e.Detail, &e.Via, &before, &after); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.OrgID, e.ActorID, e.Time = org.String, actor.String, FromMillis(at)
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
