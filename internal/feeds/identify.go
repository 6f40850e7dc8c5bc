package feeds

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/riskmap/riskmap/internal/intake"
	"github.com/riskmap/riskmap/internal/vuln/osv"
)

// importFile is one file Import stores: where it goes under feeds/, how to
// read it and what validating it found.
type importFile struct {
	rel     string
	read    func() ([]byte, error)
	checked bool // validated while identifying it (an OSV export)
	data    []byte
	records int
	vulns   []*osv.Vulnerability
	err     error
}

// errUnknownFeed is what a file that is no feed Riskmap reads gets.
var errUnknownFeed = errors.New("not a feed file: want an OSV export (a zip of OSV JSON records, like osv.dev's <Ecosystem>/all.zip), " +
	"a CISA KEV catalog or an Alpine secdb file (JSON), or an EPSS or CVSS CSV (plain or gzipped)")

// identify tells which stored file one feed file given to Import on its own
// replaces, from its content: its name says little (a console upload sits in
// a temporary directory under whatever name the browser sent). An OSV
// export is filed under the ecosystem its records affect, an Alpine secdb
// under its distroversion and reponame, KEV and EPSS under their one path,
// a CVSS CSV under its own name (several may be kept). The OSV export is
// validated here, since telling its ecosystem means reading every record.
func identify(ctx context.Context, path string) (importFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return importFile{}, err
	}
	return identifyData(ctx, filepath.Base(path), data)
}

// identifyData is identify of a file's name and content.
func identifyData(ctx context.Context, name string, data []byte) (importFile, error) {
	f := importFile{data: data, read: func() ([]byte, error) { return data, nil }}
	switch {
	case len(data) == 0:
		return importFile{}, errors.New("empty file")
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		n, vs, err := validate(ctx, KindOSV, data)
		if err != nil {
			return importFile{}, fmt.Errorf("not an OSV export: %w", err)
		}
		eco, err := exportEcosystem(vs)
		if err != nil {
			return importFile{}, err
		}
		f.rel, f.checked, f.records, f.vulns = "osv/"+eco+"/all.zip", true, n, vs
		return f, nil
	case bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")):
		rel, err := jsonRel(data)
		if err != nil {
			return importFile{}, err
		}
		f.rel = rel
		return f, nil
	}
	kind, err := csvKind(data)
	if err != nil {
		return importFile{}, err
	}
	switch kind {
	case KindEPSS:
		f.rel = "epss/epss_scores.csv.gz"
	case KindCVSS:
		stem := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".csv")
		ext := ".csv"
		if isGzip(data) {
			ext = ".csv.gz"
		}
		f.rel = "cvss/" + stem + ext
	}
	return f, nil
}

// exportEcosystem returns the base ecosystem ("Debian" for "Debian:12") of
// an OSV export's records: the first record's, kept by every other record
// that names an affected package (a record affecting several ecosystems is
// in the export of each). Records of ecosystems with none in common are an
// error naming them.
func exportEcosystem(vs []*osv.Vulnerability) (string, error) {
	var common []string
	count := map[string]int{}
	seen := false
	for _, v := range vs {
		var ecos []string
		for _, a := range v.Affected {
			eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
			if eco != "" && !slices.Contains(ecos, eco) {
				ecos = append(ecos, eco)
				count[eco]++
			}
		}
		if len(ecos) == 0 {
			continue
		}
		if !seen {
			common, seen = ecos, true
			continue
		}
		common = slices.DeleteFunc(common, func(e string) bool { return !slices.Contains(ecos, e) })
	}
	switch {
	case !seen:
		return "", errors.New("OSV export: no record names an affected package's ecosystem, so its source cannot be told")
	case len(common) == 0:
		names := make([]string, 0, len(count))
		for eco := range count {
			names = append(names, eco)
		}
		sort.Strings(names)
		more := ""
		if len(names) > 10 {
			more = fmt.Sprintf(" and %d more", len(names)-10)
			names = names[:10]
		}
		for i, eco := range names {
			names[i] = fmt.Sprintf("%s (%d %s)", eco, count[eco], plural(count[eco], "record"))
		}
		return "", fmt.Errorf("OSV export mixes ecosystems: %s%s; import one export per ecosystem (osv.dev's <Ecosystem>/all.zip)", strings.Join(names, ", "), more)
	case !pathElem(common[0]):
		return "", fmt.Errorf("OSV export: ecosystem %q cannot name a directory", common[0])
	}
	return common[0], nil
}

// jsonRel tells a KEV catalog from an Alpine secdb file by their top-level
// fields; the full parse comes with validation.
func jsonRel(data []byte) (string, error) {
	var head struct {
		Vulnerabilities, Packages bool // present and not null
		DistroVersion, RepoName   string
	}
	// Walked token by token, without copying the arrays.
	present := func(d *intake.Decoder) (bool, error) {
		t, err := d.Token()
		if err != nil || t == nil {
			return false, err
		}
		if _, ok := t.(json.Delim); ok {
			for depth := 1; depth > 0; {
				t, err := d.Token()
				if err != nil {
					return false, err
				}
				switch t {
				case json.Delim('{'), json.Delim('['):
					depth++
				case json.Delim('}'), json.Delim(']'):
					depth--
				}
			}
		}
		return true, nil
	}
	d := intake.NewDecoder(bytes.NewReader(data), intake.Limits{MaxDepth: 64, MaxString: 1 << 20, MaxElement: 1 << 20})
	err := d.Object(func(key string) error {
		var err error
		switch {
		case strings.EqualFold(key, "vulnerabilities"):
			head.Vulnerabilities, err = present(d)
		case strings.EqualFold(key, "packages"):
			head.Packages, err = present(d)
		case strings.EqualFold(key, "distroversion"):
			err = d.Decode(&head.DistroVersion)
		case strings.EqualFold(key, "reponame"):
			err = d.Decode(&head.RepoName)
		default:
			err = d.Skip()
		}
		return err
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return "", fmt.Errorf("%w (JSON: %v)", errUnknownFeed, err)
	}
	switch {
	case head.DistroVersion != "" && head.Packages:
		if !pathElem(head.DistroVersion) || !pathElem(head.RepoName) {
			return "", fmt.Errorf("Alpine secdb: distroversion %q and reponame %q must each name a directory", head.DistroVersion, head.RepoName)
		}
		return "alpine/secdb/" + head.DistroVersion + "/" + head.RepoName + ".json", nil
	case head.Vulnerabilities && head.DistroVersion == "":
		return "kev/known_exploited_vulnerabilities.json", nil
	}
	return "", fmt.Errorf("%w (JSON without KEV's vulnerabilities or secdb's distroversion and packages)", errUnknownFeed)
}

// csvKind tells an EPSS CSV from a CVSS CSV by their column headers.
func csvKind(data []byte) (Kind, error) {
	var r io.Reader = bytes.NewReader(data)
	if isGzip(data) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return KindUnknown, fmt.Errorf("%w (gzip: %v)", errUnknownFeed, err)
		}
		defer gz.Close()
		r = gz
	}
	br := bufio.NewReaderSize(r, 4096)
	line, _ := br.ReadSlice('\n')
	line = bytes.TrimPrefix(line, []byte("\ufeff"))
	if bytes.HasPrefix(line, []byte("#")) { // EPSS's optional comment line
		line, _ = br.ReadSlice('\n')
	}
	cols, _ := csv.NewReader(bytes.NewReader(line)).Read()
	switch {
	case slices.Contains(cols, "epss") && slices.Contains(cols, "percentile"):
		return KindEPSS, nil
	case slices.Contains(cols, "cvss_version") && slices.Contains(cols, "vector"):
		return KindCVSS, nil
	}
	return KindUnknown, errUnknownFeed
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func isGzip(data []byte) bool { return bytes.HasPrefix(data, []byte{0x1f, 0x8b}) }

// pathElem reports whether s, read from a file's content, is safe as one
// directory or file name under feeds/.
func pathElem(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 100 && strings.TrimSpace(s) == s &&
		!strings.ContainsAny(s, `/\`) && strings.IndexFunc(s, unicode.IsControl) < 0
}
