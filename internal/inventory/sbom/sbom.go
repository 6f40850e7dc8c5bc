// Package sbom writes inventories as CycloneDX 1.6 JSON, SPDX 2.3 JSON or
// riskmap's own JSON (schema/inventory-<version>.json), and reads CycloneDX
// and SPDX JSON documents back into an inventory.
package sbom

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory"
)

// Formats.
const (
	FormatJSON      = "json"
	FormatCycloneDX = "cyclonedx-json"
	FormatSPDX      = "spdx-json"
	FormatTable     = "table"
)

// Formats lists the output formats with their accepted aliases.
var Formats = map[string]string{
	"json": FormatJSON, "riskmap-json": FormatJSON,
	"cyclonedx-json": FormatCycloneDX, "cyclonedx": FormatCycloneDX, "cdx": FormatCycloneDX,
	"spdx-json": FormatSPDX, "spdx": FormatSPDX,
	"table": FormatTable,
}

// Tool names the generator recorded in documents.
type Tool struct {
	Name    string
	Version string
}

// Write encodes inv in format to w.
func Write(w io.Writer, inv *inventory.Inventory, format string, tool Tool) error {
	f, ok := Formats[strings.ToLower(format)]
	if !ok {
		return fmt.Errorf("write SBOM: unknown format %q (json, cyclonedx-json, spdx-json, table)", format)
	}
	switch f {
	case FormatJSON:
		return encode(w, inv)
	case FormatCycloneDX:
		return encode(w, toCycloneDX(inv, tool))
	case FormatSPDX:
		return encode(w, toSPDX(inv, tool))
	default:
		return writeTable(w, inv)
	}
}

func encode(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write SBOM: %w", err)
	}
	if err := writeIndented(w, buf.Bytes()); err != nil {
		return fmt.Errorf("write SBOM: %w", err)
	}
	return nil
}

// writeIndented writes the compact JSON b (as encoding/json writes it: no
// space outside strings) indented by two spaces, exactly as json.Indent
// would, through a small buffer: json.Indent's byte-by-byte scanner and
// its second whole-document buffer cost more than encoding a large SBOM.
// FuzzWriteIndented checks it against json.Indent.
func writeIndented(w io.Writer, b []byte) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	depth := 0
	newline := func() {
		bw.WriteByte('\n')
		for range depth {
			bw.WriteString("  ")
		}
	}
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(b)-1)
			bw.Write(b[i : j+1])
			i = j
		case '{', '[':
			if i+1 < len(b) && (b[i+1] == '}' || b[i+1] == ']') {
				bw.Write(b[i : i+2]) // empty: "{}" or "[]"
				i++
				continue
			}
			bw.WriteByte(c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			bw.WriteByte(c)
		case ',':
			bw.WriteByte(c)
			newline()
		case ':':
			bw.WriteString(": ")
		default:
			bw.WriteByte(c)
		}
	}
	return bw.Flush()
}

func writeTable(w io.Writer, inv *inventory.Inventory) error {
	var b strings.Builder
	wn, wv := len("NAME"), len("VERSION")
	for _, p := range inv.Packages {
		wn, wv = max(wn, len(p.Name)), max(wv, len(p.Version))
	}
	fmt.Fprintf(&b, "%-*s  %-*s  %s\n", wn, "NAME", wv, "VERSION", "ECOSYSTEM")
	for _, p := range inv.Packages {
		fmt.Fprintf(&b, "%-*s  %-*s  %s\n", wn, p.Name, wv, p.Version, p.Ecosystem)
	}
	if n := len(inv.Errors); n > 0 {
		fmt.Fprintf(&b, "\n%d file(s) could not be read:\n", n)
		for _, e := range inv.Errors {
			fmt.Fprintf(&b, "  %s: %s\n", e.Path, e.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ecosystemFromPURL maps a purl type back to an OSV ecosystem when a
// document carries no ecosystem of its own.
func ecosystemFromPURL(purl string, distro *inventory.Distro) string {
	t, rest, ok := strings.Cut(strings.TrimPrefix(purl, "pkg:"), "/")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, "/")
	switch t {
	case "deb":
		name := map[string]string{"debian": "Debian", "ubuntu": "Ubuntu"}[ns]
		if name == "" {
			return ""
		}
		if r := qualifier(purl, "distro"); r != "" {
			// distro=debian-12 or distro=bookworm
			if _, v, ok := strings.Cut(r, "-"); ok {
				return name + ":" + v
			}
		}
		if distro != nil && distro.VersionID != "" {
			return name + ":" + distro.VersionID
		}
		return name
	case "apk":
		return "Alpine"
	case "rpm":
		return map[string]string{"redhat": "Red Hat", "almalinux": "AlmaLinux", "rocky": "Rocky Linux", "suse": "SUSE", "opensuse": "openSUSE"}[ns]
	}
	return map[string]string{
		"golang": "Go", "pypi": "PyPI", "npm": "npm", "cargo": "crates.io", "maven": "Maven",
		"gem": "RubyGems", "composer": "Packagist", "nuget": "NuGet",
	}[t]
}

func qualifier(purl, key string) string {
	_, q, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
