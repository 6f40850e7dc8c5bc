package remote

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/match"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/vulndb"
)

// Matching requests per caller (user, else client address) per minute on
// POST /api/v1/match: a CI fleet scans often, but each request may hold a
// large inventory.
const (
	MatchRateLimit  = 120
	MatchRateWindow = time.Minute
)

// KnowledgeBase gives the current knowledge base (nil: none loaded yet).
type KnowledgeBase interface {
	DB() *vulndb.DB
}

// Server is the console side of the contract: POST /api/v1/match.
type Server struct {
	KB     KnowledgeBase
	Logger *slog.Logger
	Now    func() time.Time
	// Store, on PostgreSQL, holds the per-caller limit for all replicas
	// (MatchRateLimit per MatchRateWindow, in windows aligned to the
	// clock); without it, or on SQLite, the limit is this process's.
	Store *store.Store
}

// Routes registers POST /api/v1/match (console.Module): `riskmap scan
// --console` sends the inventory it built locally and gets the findings of
// the console's knowledge base, in the local matcher's model. Nothing is
// stored.
func (s *Server) Routes(api huma.API, r chi.Router) {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	lim := auth.NewLimiter(MatchRateLimit, MatchRateWindow, s.Now)
	// At most two matches per CPU run at once; others wait for a slot.
	slots := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	console.RawRoute(api, r, huma.Operation{OperationID: "match-inventory", Method: http.MethodPost, Path: Path,
		Summary: "Match an inventory (riskmap inventory JSON, plain or Content-Encoding: gzip; at most 64 MiB as sent, 512 MiB decompressed) " +
			"against the console's knowledge base; ?onlyFixed=true, ?runningKernel=RELEASE. Nothing is stored.", Tags: []string{"scans"}},
		map[string]*huma.Response{"200": {Description: "The match result and the knowledge base header", Content: map[string]*huma.MediaType{"application/json": {}}}},
		func(w http.ResponseWriter, r *http.Request) { s.rawMatch(w, r, lim, slots) })
}

// matchSlotWait bounds how long a request waits for a matching slot.
const matchSlotWait = 30 * time.Second

func (s *Server) rawMatch(w http.ResponseWriter, r *http.Request, lim *auth.Limiter, slots chan struct{}) {
	ctx := r.Context()
	who := ""
	if p, ok := console.PrincipalFrom(ctx); ok {
		who = p.User.ID
	}
	if who == "" {
		who = "addr:" + console.ClientAddr(ctx)
	}
	if ok, wait := s.allow(ctx, lim, who); !ok {
		console.SetRetryAfter(w.Header(), wait)
		console.WriteProblem(w, http.StatusTooManyRequests, fmt.Sprintf("more than %d match requests per %s; retry in %s", MatchRateLimit, MatchRateWindow, wait.Round(time.Second)))
		return
	}
	opts, err := DecodeOptions(r.URL.Query())
	if err != nil {
		console.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	var db *vulndb.DB
	if s.KB != nil {
		db = s.KB.DB()
	}
	if db == nil {
		console.WriteProblem(w, http.StatusServiceUnavailable, "the console has no knowledge base yet: update the feeds (POST /api/v1/feeds/update) or upload them (POST /api/v1/feeds/import)")
		return
	}
	if err := CheckEncoding(r.Header.Get("Content-Encoding")); err != nil {
		console.WriteProblem(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	// The slot is taken before a byte of the body is read: what a request
	// costs is bounded by the limits, and how many run at once by the slots.
	wait := time.NewTimer(matchSlotWait)
	defer wait.Stop()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	case <-wait.C:
		w.Header().Set("Retry-After", "5")
		console.WriteProblem(w, http.StatusServiceUnavailable, "the console is busy matching other inventories; retry later")
		return
	case <-ctx.Done():
		return
	}
	// Packages are matched as they are decoded: the request holds its
	// answer, not its inventory.
	stream := match.New(db).Stream(opts)
	_, err = StreamRequest(r.Body, r.Header.Get("Content-Encoding"), func(p *inventory.Package) error {
		if _, err := stream.Add(ctx, p); err != nil {
			return err
		}
		if stream.Len() > MaxAnswer {
			return fmt.Errorf("%w: the answer would list more than %d findings and skipped packages; send smaller inventories", ErrTooLarge, MaxAnswer)
		}
		return nil
	})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			console.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
		case errors.Is(err, ErrTooLarge):
			console.WriteProblem(w, http.StatusRequestEntityTooLarge, err.Error())
		case errors.Is(err, ErrUnsupportedEncoding):
			console.WriteProblem(w, http.StatusUnsupportedMediaType, err.Error())
		case ctx.Err() != nil:
			return
		default:
			console.WriteProblem(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	res := stream.Result()
	stream = nil
	w.Header().Set("Content-Type", "application/json")
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer zw.Close()
		out = zw
	}
	if err := WriteResponse(out, Response{Result: res, DB: db.Meta()}); err != nil {
		s.Logger.WarnContext(ctx, "match answer not sent", "err", err)
	}
}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero q.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		enc = strings.TrimSpace(enc)
		if !strings.EqualFold(enc, "gzip") && enc != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// allow takes one of the caller's match requests: from the replicas'
// shared bucket on PostgreSQL, else from this process's window (also when
// the store cannot answer).
func (s *Server) allow(ctx context.Context, lim *auth.Limiter, who string) (bool, time.Duration) {
	if s.Store == nil || s.Store.Dialect() != store.Postgres {
		return lim.Allow(who)
	}
	// A window's bucket: MatchRateLimit tokens, never refilled; the next
	// window is a new bucket (the old ones are pruned with the others).
	now := s.Now()
	win := now.UnixMilli() / MatchRateWindow.Milliseconds()
	ok, _, err := s.Store.TakeToken(ctx, "match:"+who+":"+strconv.FormatInt(win, 10), MatchRateLimit, 100*365*24*time.Hour, now)
	if err != nil {
		s.Logger.Warn("shared match rate limit unavailable; this replica's own applies", "err", err)
		return lim.Allow(who)
	}
	if ok {
		return true, 0
	}
	return false, time.UnixMilli((win + 1) * MatchRateWindow.Milliseconds()).Sub(now)
}
