package scanner

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// javaFixture writes a war whose WEB-INF/lib holds a log4j-core jar with its
// pom.properties: a nested archive, as deployed applications ship them.
func javaFixture(t *testing.T) string {
	t.Helper()
	inner := zipOf(t, map[string]string{
		"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nImplementation-Title: Apache Log4j Core\r\nImplementation-Version: 2.14.1\r\n\r\n",
		"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n",
		"org/apache/logging/log4j/core/Logger.class":                        "\xca\xfe\xba\xbe",
	})
	war := zipOf(t, map[string]string{
		"META-INF/MANIFEST.MF":                          "Manifest-Version: 1.0\r\n\r\n",
		"META-INF/maven/com.example/app/pom.properties": "groupId=com.example\nartifactId=app\nversion=1.0.0\n",
		"WEB-INF/lib/log4j-core-2.14.1.jar":             string(inner),
	})
	dir := t.TempDir()
	p := filepath.Join(dir, "opt/app/app.war")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, war, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
