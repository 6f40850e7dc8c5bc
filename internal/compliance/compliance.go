// Package compliance owns what is common to the compliance engines: the
// target's operating system (its os-release), the SCAP Security Guide data
// stream that covers it, the profiles each data stream offers (read from
// the content, and an embedded catalogue of SSG 0.1.65's for the console,
// which has no content), and the mapping of Riskmap's profile names
// (standard, CIS levels, PCI-DSS, HIPAA, NIST 800-53, ANSSI) to each
// data stream's XCCDF profile ids.
package compliance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/riskmap/riskmap/internal/inventory/rootfs"
)

// OS is a target's operating system, from its os-release file.
type OS struct {
	// ID and IDLike are os-release's ID and ID_LIKE ("debian",
	// ["rhel", "centos", "fedora"]); VersionID its VERSION_ID ("11",
	// "22.04", "9.3"); Name its PRETTY_NAME.
	ID        string   `json:"id"`
	IDLike    []string `json:"idLike,omitempty"`
	VersionID string   `json:"versionId,omitempty"`
	Name      string   `json:"name,omitempty"`
}

// Major returns VERSION_ID's major number ("9" of "9.3").
func (o OS) Major() string {
	m, _, _ := strings.Cut(o.VersionID, ".")
	return m
}

func (o OS) String() string {
	if o.Name != "" {
		return o.Name
	}
	return strings.TrimSpace(o.ID + " " + o.VersionID)
}

// ReadOS reads the os-release of the root filesystem at root
// (/etc/os-release, else /usr/lib/os-release), resolving links inside the
// root: a container's absolute link never reads the host's file.
func ReadOS(root string) (OS, error) {
	fsys, err := rootfs.Open(root)
	if err != nil {
		return OS{}, fmt.Errorf("os-release of %s: %w", root, err)
	}
	defer fsys.Close()
	var errs []error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		f, err := fsys.Open(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o, err := ParseOSRelease(io.LimitReader(f, 64<<10))
		f.Close()
		if err != nil {
			return OS{}, fmt.Errorf("%s/%s: %w", root, p, err)
		}
		return o, nil
	}
	return OS{}, fmt.Errorf("os-release of %s: %w", root, errors.Join(errs...))
}

// ParseOSRelease parses an os-release file (os-release(5)).
func ParseOSRelease(r io.Reader) (OS, error) {
	var o OS
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			o.ID = strings.ToLower(v)
		case "ID_LIKE":
			o.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.Name = v
		}
	}
	if err := sc.Err(); err != nil {
		return OS{}, err
	}
	if o.ID == "" {
		return OS{}, errors.New("no ID")
	}
	return o, nil
}

// DefaultContentDirs are where SCAP Security Guide data streams are
// looked for: Debian's ssg-* packages, RHEL's and SUSE's
// scap-security-guide, the sensor image's copy.
var DefaultContentDirs = []string{
	"/usr/share/xml/scap/ssg/content",
	"/usr/share/scap-security-guide",
	"/opt/riskmap/ssg/content",
}

// ContentDir returns the first of dirs holding SSG data streams
// (ssg-*-ds.xml).
func ContentDir(dirs []string) (string, error) {
	for _, d := range dirs {
		if m, _ := filepath.Glob(filepath.Join(d, "ssg-*-ds.xml")); len(m) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("no SCAP Security Guide content (ssg-*-ds.xml) in %s: install ssg-debian, ssg-debderived and ssg-nondebian (Debian) or scap-security-guide", strings.Join(dirs, ", "))
}

// Products returns the SSG products (ssg-PRODUCT-ds.xml) whose data
// streams are in dir, sorted.
func Products(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "ssg-*-ds.xml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "ssg-"), "-ds.xml"))
	}
	slices.Sort(out)
	return out, nil
}

// DataStreamPath is the data stream file of a product in dir.
func DataStreamPath(dir, product string) string {
	return filepath.Join(dir, "ssg-"+product+"-ds.xml")
}

// ErrNoContent is returned when no data stream covers an OS.
var ErrNoContent = errors.New("no SCAP Security Guide data stream for this operating system")

// Candidates returns the SSG products that may cover o, best first: the
// OS's own product, then, for a derivative (AlmaLinux, Rocky), its
// parent's (whose rules may then find the platform not applicable).
func Candidates(o OS) []string {
	major := o.Major()
	id := o.ID
	switch id {
	case "debian":
		return []string{"debian" + major}
	case "ubuntu":
		return []string{"ubuntu" + strings.ReplaceAll(o.VersionID, ".", "")}
	case "rhel":
		return []string{"rhel" + major}
	case "centos":
		if major == "9" || major == "10" {
			return []string{"cs" + major, "rhel" + major}
		}
		return []string{"centos" + major, "rhel" + major}
	case "almalinux", "rocky":
		return []string{id + major, "rhel" + major}
	case "ol":
		return []string{"ol" + major}
	case "fedora":
		return []string{"fedora"}
	case "sles", "sled", "sles_sap":
		return []string{"sle" + major}
	case "opensuse-leap", "opensuse-tumbleweed", "opensuse":
		return []string{"opensuse"}
	case "alinux":
		return []string{"alinux" + major}
	case "anolis":
		return []string{"anolis" + major}
	case "uos":
		return []string{"uos" + major}
	case "rhcos":
		return []string{"rhcos" + major}
	case "amzn":
		return []string{"al" + o.VersionID}
	case "scientific":
		return []string{"sl" + major}
	}
	return nil
}

// DataStream is the data stream chosen for a target.
type DataStream struct {
	Product string // "debian11"
	Path    string
	// Derived is true when the product is the OS's parent's (RHEL content
	// for Rocky Linux).
	Derived bool
}

// DataStreamFor chooses the data stream of dir covering o.
func DataStreamFor(dir string, o OS) (DataStream, error) {
	c := Candidates(o)
	for i, p := range c {
		path := DataStreamPath(dir, p)
		if _, err := os.Stat(path); err == nil {
			return DataStream{Product: p, Path: path, Derived: i > 0}, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return DataStream{}, fmt.Errorf("data stream %s: %w", path, err)
		}
	}
	have, _ := Products(dir)
	if len(c) == 0 {
		return DataStream{}, fmt.Errorf("%w: %s (ID %q) is not an OS the SCAP Security Guide covers (content in %s: %s)", ErrNoContent, o, o.ID, dir, strings.Join(have, ", "))
	}
	return DataStream{}, fmt.Errorf("%w: %s needs ssg-%s-ds.xml, which %s does not hold (it holds: %s)", ErrNoContent, o, c[0], dir, strings.Join(have, ", "))
}
