package topology

import (
	"slices"
	"strings"
	"time"
)

// ImageUse is a live container, or an image a live host holds, with the
// digests that name its image: the image id (the config digest, as Docker
// reports it), the repository digests (a manifest's or an index's, as
// pulled) and, for containerd, the image's target digest. The registries
// module finds its images' uses by these digests.
type ImageUse struct {
	NodeID   string
	Kind     string // container or image
	Label    string
	SensorID string
	HostID   string
	Host     string // the host's label
	// Arch is the host's architecture (GOARCH names: amd64, arm64), to
	// pick an index's image when only the index digest is known.
	Arch    string
	Digests []string
}

// ImageUses lists the live containers and images with the digests of
// their image (those with none known are left out). The answer is kept
// until a container or image changes.
func (t *Topology) ImageUses() []ImageUse {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	t.usesMu.Lock()
	defer t.usesMu.Unlock()
	now := t.now()
	// Kept while no container or image changed (the other nodes churn
	// with every report), and at most a minute.
	if t.uses != nil && t.usesVersion == g.imageVersion && now.Sub(t.usesAt) < time.Minute && !now.Before(t.usesAt) {
		return t.uses
	}
	// Digests of every image node, and of image names (containerd lists
	// an image under its tag and digest names).
	imgDigests := map[string][]string{}
	byName := map[string][]string{}
	for _, n := range g.nodes {
		if n.Kind != KindImage {
			continue
		}
		var ds []string
		if strings.HasPrefix(n.Key, "sha256:") {
			ds = append(ds, n.Key)
		}
		for _, f := range strings.Fields(n.Meta["repoDigests"]) {
			if _, d, ok := strings.Cut(f, "@"); ok && strings.HasPrefix(d, "sha256:") {
				ds = append(ds, d)
			}
		}
		for _, f := range strings.Fields(n.Meta["repoTags"]) {
			if _, d, ok := strings.Cut(f, "@"); ok && strings.HasPrefix(d, "sha256:") {
				ds = append(ds, d)
			}
		}
		imgDigests[n.ID] = ds
		if len(ds) > 0 {
			for _, f := range strings.Fields(n.Meta["repoTags"]) {
				byName[f] = append(byName[f], ds...)
			}
		}
	}
	var out []ImageUse
	for _, n := range g.nodes {
		if n.Gone() || (n.Kind != KindContainer && n.Kind != KindImage) {
			continue
		}
		u := ImageUse{NodeID: n.ID, Kind: n.Kind, Label: n.Label, SensorID: n.SensorID}
		switch n.Kind {
		case KindContainer:
			if id := n.Meta["imageId"]; strings.HasPrefix(id, "sha256:") {
				u.Digests = append(u.Digests, id)
			}
			u.Digests = append(u.Digests, imgDigests[n.Image]...)
			if img := g.nodes[n.Image]; img != nil && strings.HasPrefix(img.Key, "name:") {
				u.Digests = append(u.Digests, byName[strings.TrimPrefix(img.Key, "name:")]...)
			}
			u.HostID = n.Host
		case KindImage:
			u.Digests = imgDigests[n.ID]
			// The most recently reporting live sensor's host.
			if s := t.info(n).Sensors; len(s) > 0 {
				u.SensorID, u.HostID = s[0], HostNodeID(s[0])
			}
		}
		if len(u.Digests) == 0 {
			continue
		}
		slices.Sort(u.Digests)
		u.Digests = slices.Compact(u.Digests)
		if h := g.nodes[u.HostID]; h != nil {
			u.Host, u.Arch = h.Label, h.Meta["arch"]
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b ImageUse) int { return strings.Compare(a.NodeID, b.NodeID) })
	t.uses, t.usesVersion, t.usesAt = out, g.imageVersion, now
	return out
}

// ContainersOf lists the live containers running an image node, by id.
func (t *Topology) ContainersOf(imageID string) []string {
	g := t.g
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []string
	for _, n := range g.nodes {
		if n.Kind == KindContainer && n.Image == imageID && !n.Gone() {
			out = append(out, n.ID)
		}
	}
	slices.Sort(out)
	return out
}
