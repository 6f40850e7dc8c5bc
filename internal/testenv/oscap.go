package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// SSGContent is where Debian's ssg-* packages install the SCAP Security
// Guide data streams.
const SSGContent = "/usr/share/xml/scap/ssg/content"

// OpenSCAP returns the path of the oscap binary and the SCAP Security
// Guide content directory holding the Debian 11 data stream the
// compliance tests evaluate.
func OpenSCAP(t testing.TB) (binary, content string) {
	t.Helper()
	binary, err := exec.LookPath("oscap")
	if err != nil {
		Missing(t, "oscap", "apt-get install openscap-scanner ssg-debian ssg-debderived ssg-nondebian (.ci/run does)")
	}
	if m, _ := filepath.Glob(filepath.Join(SSGContent, "ssg-debian11-ds.xml")); len(m) == 0 {
		Missing(t, "SCAP Security Guide content", "apt-get install ssg-debian ssg-debderived ssg-nondebian (no "+SSGContent+"/ssg-debian11-ds.xml)")
	}
	return binary, SSGContent
}
