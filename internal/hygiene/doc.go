// Package hygiene holds repository-wide checks run by `make test`: gofmt,
// go vet, a tidy go.mod and a doc comment on every package.
package hygiene
