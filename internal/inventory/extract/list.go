package extract

import (
	"fmt"
	"path"

	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/depsjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/packageslockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gomod"
	javaarchive "github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/gradlelockfile"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/pomxml"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/pnpmlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/yarnlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/php/composerlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pipfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/poetrylock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/requirements"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/uvlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
)

// constructor builds one osv-scalibr extractor from its plugin config.
type constructor func(cfg *cpb.PluginConfig) (filesystem.Extractor, error)

// extractors is THE list of extractors riskmap runs, in one place. To add an
// ecosystem, add its constructor here (see docs/new_extractor.md); nothing is
// registered through init().
var extractors = []struct {
	name string
	new  constructor
}{
	// Operating system package databases.
	{dpkg.Name, dpkg.New},
	{apk.Name, apk.New},
	{rpm.Name, rpm.New}, // SQLite, NDB and Berkeley DB rpmdb formats
	// Go.
	{gobinary.Name, gobinary.New},
	{gomod.Name, gomod.New},
	// Rust.
	{cargoauditable.Name, cargoauditable.New},
	{cargolock.Name, cargolock.New},
	// JavaScript.
	{packagelockjson.Name, packagelockjson.New}, // package-lock.json v1-v3 and npm-shrinkwrap.json
	{yarnlock.Name, yarnlock.New},
	{pnpmlock.Name, pnpmlock.New},
	{packagejson.Name, packagejson.New}, // installed node_modules/*/package.json
	// Python.
	{wheelegg.Name, wheelegg.New}, // installed dist-info / egg-info, wheels and eggs
	{requirements.Name, requirements.New},
	{poetrylock.Name, poetrylock.New},
	{pipfilelock.Name, pipfilelock.New},
	{uvlock.Name, uvlock.New},
	// Java: jar/war/ear with nested archives, pom.properties and MANIFEST.MF.
	{javaarchive.Name, javaarchive.New},
	{gradlelockfile.Name, gradlelockfile.New},
	{pomxml.Name, projectPOMOnly}, // pom.xml, with properties and local parents resolved; no network
	// Ruby.
	{gemfilelock.Name, gemfilelock.New},
	{gemspec.Name, gemspec.New},
	// PHP.
	{composerlock.Name, composerlock.New},
	// .NET.
	{depsjson.Name, depsjson.New},
	{packageslockjson.Name, packageslockjson.New},
}

// projectPOMOnly is pomxml restricted to a project's pom.xml: the *.pom
// files it also reads are those of a Maven repository cache (~/.m2), which
// describe the dependencies of what was downloaded, not of what is
// deployed (syft and Trivy leave them out of image scans too).
func projectPOMOnly(cfg *cpb.PluginConfig) (filesystem.Extractor, error) {
	x, err := pomxml.New(cfg)
	if err != nil {
		return nil, err
	}
	return pomOnly{x}, nil
}

type pomOnly struct{ filesystem.Extractor }

func (p pomOnly) FileRequired(api filesystem.FileAPI) bool {
	return path.Base(api.Path()) == "pom.xml"
}

// Names returns the names of the extractors in the list, in order.
func Names() []string {
	out := make([]string, len(extractors))
	for i, e := range extractors {
		out[i] = e.name
	}
	return out
}

// newExtractors instantiates every extractor of the list with cfg.
func newExtractors(cfg Config) ([]filesystem.Extractor, error) {
	pc := &cpb.PluginConfig{
		MaxFileSizeBytes: cfg.MaxFileSize,
		PluginSpecific: []*cpb.PluginSpecificConfig{
			// A corrupt Berkeley DB can make the rpmdb reader spin: bound it.
			{Config: &cpb.PluginSpecificConfig_Rpm{Rpm: &cpb.RpmConfig{TimeoutSeconds: int64(cfg.RPMTimeout.Seconds())}}},
		},
	}
	out := make([]filesystem.Extractor, 0, len(extractors))
	for _, e := range extractors {
		x, err := e.new(pc)
		if err != nil {
			return nil, fmt.Errorf("new extractor %s: %w", e.name, err)
		}
		out = append(out, x)
	}
	return out, nil
}
