// Package registries is the console's registry scanning: registry
// accounts of every provider kind (their credentials sealed in the
// secrets vault, never returned), the catalogue of each account
// (repositories, tags, and the images they name by digest, multi-arch
// indexes resolved per platform) kept by sync jobs on demand and on a
// schedule, with filters (repository globs, a tag regular expression,
// the latest N tags by push time) and removed tags marked gone, and the
// scans of those images by digest: by the console itself (layers
// streamed from the registry, never unpacked) or by a sensor that reaches
// the registry, once per digest, automatically for new digests when the
// account says so.
//
// The scans of registry images are scans of internal/scans (target kind
// registry, keyed by digest), so their findings, SBOM and report
// downloads and rematches after a feed update are those of any scan. An
// image meets the topology by digest: the containers and hosts running
// it are found among the topology's image digests (image ids, repo
// digests), and a running container adopts its image's scan (its
// findings, ranked with the container's own exposure) without a rescan.
//
// It owns the registry_accounts, registry_repositories, registry_tags,
// registry_images and registry_syncs tables. Providers are in
// internal/registries/provider/<kind>, listed in Kinds.
package registries
