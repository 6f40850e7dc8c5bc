package feeds

import (
	"fmt"
	"slices"
	"strings"

	"github.com/riskmap/riskmap/internal/feeds/alpine"
	osvfeed "github.com/riskmap/riskmap/internal/feeds/osv"
)

// Covers reports whether the loaded knowledge base holds records for an
// ecosystem ("Debian:12", "PyPI"); false without a knowledge base.
func (k *KB) Covers(eco string) bool {
	db := k.DB()
	return db != nil && db.Covers(eco)
}

// Remedy says which feed would give the knowledge base records for an
// ecosystem it does not cover ("Debian:12", "Alpine:v3.19", "PyPI"), and
// how to get it into this console: update the feeds when the source is
// one they fetch, else import the source's file.
func (k *KB) Remedy(eco string) string { return k.feeds.Remedy(eco) }

// Remedy is KB.Remedy for the manager's sources and stored files.
func (m *Manager) Remedy(eco string) string {
	const (
		update = "update the feeds (Feeds and diagnosis → Update feeds now, or POST /api/v1/feeds/update)"
		upload = "(Feeds and diagnosis → Upload a feed, or POST /api/v1/feeds/import?name=FILE)"
	)
	base, rel, _ := strings.Cut(eco, ":")
	if base == "" {
		return "the packages name no ecosystem: no feed can judge them"
	}
	stored := map[string]bool{}
	if st, err := m.loadState(); err == nil {
		for p := range st.Files {
			stored[p] = true
		}
	}
	osvBase := m.cfg.OSVBaseURL
	if osvBase == "" {
		osvBase = osvfeed.DefaultBaseURL
	}
	osvURL := osvfeed.URL(osvBase, base)
	osvPath := "osv/" + base + "/all.zip"
	fetched := slices.Contains(m.cfg.OSVEcosystems, base)
	what := eco
	if rel != "" {
		what = base + " " + rel
	}
	var b strings.Builder
	switch {
	case base == "Alpine" && rel != "":
		branch := rel
		alpineBase := m.cfg.AlpineBaseURL
		if alpineBase == "" {
			alpineBase = alpine.DefaultBaseURL
		}
		files := make([]string, 0, len(alpine.DefaultRepos))
		for _, repo := range alpine.DefaultRepos {
			files = append(files, strings.TrimRight(alpineBase, "/")+"/"+branch+"/"+repo+".json")
		}
		if slices.Contains(m.cfg.AlpineBranches, branch) || fetched {
			fmt.Fprintf(&b, "The Alpine secdb of %s (%s) or osv.dev's Alpine export is among the feeds this console fetches, but the stored copy holds no %s records: %s. ",
				branch, strings.Join(files, ", "), what, update)
			fmt.Fprintf(&b, "An air-gapped console imports those files %s.", upload)
		} else {
			fmt.Fprintf(&b, "No feed of this console covers %s: import the Alpine secdb of %s (%s) %s, or osv.dev's Alpine export %s.",
				what, branch, strings.Join(files, ", "), upload, osvURL)
		}
	case fetched && stored[osvPath]:
		fmt.Fprintf(&b, "The stored osv.dev %s export (feed osv:%s) holds no %s records: %s. An air-gapped console imports a current export, %s %s.",
			base, base, what, update, osvURL, upload)
	case fetched:
		fmt.Fprintf(&b, "The osv.dev %s export (feed osv:%s) has not been fetched yet: %s. An air-gapped console imports %s %s.",
			base, base, update, osvURL, upload)
	case stored[osvPath]:
		fmt.Fprintf(&b, "The imported osv.dev %s export (feed osv:%s) holds no %s records, and this console does not fetch it: import a current export, %s %s.",
			base, base, what, osvURL, upload)
	default:
		fmt.Fprintf(&b, "No feed of this console covers %s: import osv.dev's %s export (where osv.dev publishes one), %s %s.",
			what, base, osvURL, upload)
	}
	return b.String()
}
