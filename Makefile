# Riskmap: see README.md. Every target works on a fresh Debian machine with Go and Node.
GO      ?= go
BIN     ?= bin/riskmap
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/riskmap/riskmap/internal/cli.Version=$(VERSION)
# Go test timeout for the whole suite; CI's budget is 45 minutes in all.
TEST_TIMEOUT ?= 30m

.PHONY: all build run test test-short bench lint web clean release images

all: build

web:
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund && npm run build; fi

build: web
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/riskmap

# Console + local sensor on the embedded database: https://127.0.0.1:8443
run: build
	./$(BIN) up

# Release files in dist/: static binaries for linux/amd64 and linux/arm64
# (RELEASE_PLATFORMS), their CycloneDX SBOMs made by riskmap, SHA256SUMS.
release: web
	VERSION=$(VERSION) scripts/release.sh

# The console and sensor images from deploy/Dockerfile (docs/deploy.md).
images:
	docker build -f deploy/Dockerfile --target console --build-arg VERSION=$(VERSION) -t riskmap/console:$(VERSION) .
	docker build -f deploy/Dockerfile --target sensor --build-arg VERSION=$(VERSION) -t riskmap/riskmap:$(VERSION) .

# The web console's own checks first: its API types are generated from the
# console's OpenAPI document (web/openapi.json), and its unit tests (vitest).
test: web
	@if [ -f web/package.json ]; then cd web && npm run check:api && npm test; fi
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short -count=1 ./...

bench: build
	./bench/run.sh

lint:
	@out=$$(gofmt -l cmd internal bench web); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean:
	rm -rf bin dist
