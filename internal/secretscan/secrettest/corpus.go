package secrettest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Corpus is the labelled corpus of issue 18: 30 fake secrets of 26 kinds
// (gitleaks rule ids, and riskmap's riskmap-url-password), each in its
// own file of a plausible place in a root filesystem, in the syntax such a
// file has (env files, YAML, INI, shell, JSON, .npmrc, .pypirc, PEM...).
// The secrets are made at run time from a fixed seed, so this source holds
// none a scanner would flag and every run plants the same ones.
//
// Files maps a path relative to the root to its content; Want lists the
// planted secrets with the rule each must be found by and its line.
func Corpus() (files map[string][]byte, want []Planted) {
	rng := rand.New(rand.NewPCG(30, 2026))
	pick := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	const (
		upper32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
		alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		lower   = "abcdefghijklmnopqrstuvwxyz0123456789"
		hexd    = "0123456789abcdef"
		bech32  = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
	)
	rsaLike := func(kind string) string {
		raw := make([]byte, 900)
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		return pemBlock(kind, raw)
	}
	files = map[string][]byte{}
	// plant adds a file whose line `line` (1-based) holds the secret.
	plant := func(rule, path string, line int, secret string, content string) {
		files[strings.TrimPrefix(path, "/")] = []byte(content)
		want = append(want, Planted{Rule: rule, Path: path, Line: line, Secret: secret})
	}
	envFile := func(rule, path, name, secret string) {
		plant(rule, path, 3, secret, "# "+path+"\nAPP_ENV=production\n"+name+"="+secret+"\nLOG_LEVEL=info\n")
	}

	aws1, aws2 := "AK"+"IA"+pick(upper32, 16), "AK"+"IA"+pick(upper32, 16)
	plant("aws-access-token", "/root/.aws/credentials", 2, aws1, "[default]\naws_access_key_id = "+aws1+"\nregion = eu-west-1\n")
	envFile("aws-access-token", "/srv/billing/.env", "AWS_ACCESS_KEY_ID", aws2)
	gh1, gh2 := "gh"+"p_"+pick(alnum, 36), "gh"+"p_"+pick(alnum, 36)
	plant("github-pat", "/home/dev/.config/hub", 3, gh1, "github.com:\n- user: dev\n  oauth_token: "+gh1+"\n  protocol: https\n")
	plant("github-pat", "/opt/ci/release.sh", 3, gh2, "#!/bin/sh\nset -eu\nexport GITHUB_TOKEN="+gh2+"\ngh release create \"$1\"\n")
	gho := "gh" + "o_" + pick(alnum, 36)
	plant("github-oauth", "/home/dev/.config/gh/hosts.yml", 3, gho, "github.com:\n    user: dev\n    oauth_token: "+gho+"\n    git_protocol: https\n")
	ghs := "gh" + "s_" + pick(alnum, 36)
	envFile("github-app-token", "/opt/bot/.env", "GH_INSTALLATION_TOKEN", ghs)
	glpat := "gl" + "pat-" + pick(alnum, 20)
	plant("gitlab-pat", "/etc/gitlab-runner/token.conf", 2, glpat, "[runner]\nprivate_token = \""+glpat+"\"\nurl = \"https://gitlab.example.com\"\n")
	xoxb := "xo" + "xb-" + pick("0123456789", 12) + "-" + pick("0123456789", 13) + "-" + pick(alnum, 24)
	plant("slack-bot-token", "/opt/chatops/config.yaml", 3, xoxb, "slack:\n  channel: \"#ops\"\n  bot_token: "+xoxb+"\n")
	hook := "https://hooks." + "slack.com/services/T" + pick(alnum, 10) + "/B" + pick(alnum, 10) + "/" + pick(alnum, 24)
	plant("slack-webhook-url", "/etc/alertmanager/alertmanager.yml", 4, hook, "receivers:\n  - name: ops\n    slack_configs:\n      - api_url: "+hook+"\n")
	pemRSA := rsaLike("RSA")
	plant("private-key", "/root/.ssh/id_rsa", 1, pemRSA, pemRSA+"\n")
	pemEC := rsaLike("OPENSSH")
	plant("private-key", "/etc/ssl/private/api.key", 1, pemEC, pemEC+"\n")
	stripe := "sk" + "_live_" + pick(alnum, 24)
	envFile("stripe-access-token", "/var/www/shop/.env", "STRIPE_SECRET_KEY", stripe)
	sg := "SG." + pick(alnum, 22) + "." + pick(alnum, 43)
	plant("sendgrid-api-token", "/var/www/shop/config/mail.php", 3, sg, "<?php\nreturn [\n    'sendgrid_key' => '"+sg+"',\n];\n")
	npm := "np" + "m_" + pick(lower, 36)
	plant("npm-access-token", "/home/dev/.npmrc", 2, npm, "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken="+npm+"\n")
	pypi := "py" + "pi-AgEIcHlwaS5vcmc" + pick(alnum+"_-", 70)
	plant("pypi-upload-token", "/home/dev/.pypirc", 4, pypi, "[pypi]\nrepository = https://upload.pypi.org/legacy/\nusername = __token__\npassword = "+pypi+"\n")
	dop := "do" + "p_v1_" + pick(hexd, 64)
	envFile("digitalocean-pat", "/opt/infra/terraform.env", "DIGITALOCEAN_TOKEN", dop)
	shpat := "sh" + "pat_" + pick(hexd, 32)
	plant("shopify-access-token", "/srv/storefront/settings.json", 3, shpat, "{\n  \"shop\": \"example\",\n  \"accessToken\": \""+shpat+"\"\n}\n")
	gcp := "AI" + "za" + pick(alnum+"_-", 35)
	plant("gcp-api-key", "/srv/maps/app.js", 2, gcp, "const config = {\n  mapsKey: \""+gcp+"\",\n};\n")
	doppler := "dp" + ".pt." + pick(lower, 43)
	envFile("doppler-api-token", "/opt/worker/.env", "DOPPLER_TOKEN", doppler)
	linear := "lin" + "_api_" + pick(lower, 40)
	plant("linear-api-key", "/home/dev/.config/linear.yaml", 1, linear, "api_key: "+linear+"\nteam: ENG\n")
	pmak := "PM" + "AK-" + pick(hexd, 24) + "-" + pick(hexd, 34)
	envFile("postman-api-token", "/opt/qa/.env", "POSTMAN_API_KEY", pmak)
	pul := "pu" + "l-" + pick(hexd, 40)
	plant("pulumi-api-token", "/home/dev/.pulumi/credentials.json", 4, pul,
		"{\n  \"current\": \"https://api.pulumi.com\",\n  \"accessTokens\": {\n    \"https://api.pulumi.com\": \""+pul+"\"\n  }\n}\n")
	dapi := "da" + "pi" + pick(hexd, 32)
	plant("databricks-api-token", "/home/dev/.databrickscfg", 3, dapi, "[DEFAULT]\nhost = https://dbc.example.cloud.databricks.com\ntoken = "+dapi+"\n")
	age := "AGE-" + "SECRET-KEY-1" + pick(bech32, 58)
	plant("age-secret-key", "/root/.config/sops/age/keys.txt", 3, age, "# created: 2026-01-01T00:00:00Z\n# public key: age1example\n"+age+"\n")
	ant := "sk" + "-ant-api03-" + pick(alnum+"_-", 93) + "AA"
	envFile("anthropic-api-key", "/opt/assistant/.env", "ANTHROPIC_API_KEY", ant)
	glsa := "gl" + "sa_" + pick(alnum, 32) + "_" + pick(hexd, 8)
	plant("grafana-service-account-token", "/etc/grafana/provisioning/sync.ini", 2, glsa, "[sync]\ntoken = "+glsa+"\n")
	nrak := "NR" + "AK-" + pick(strings.ToUpper(lower), 27)
	plant("new-relic-user-api-key", "/etc/newrelic/infra.yml", 2, nrak, "license_key: none\nnewrelic_api_key: "+nrak+"\n")
	sntry := "sn" + "tryu_" + pick(hexd, 64)
	envFile("sentry-user-token", "/opt/release/.env", "SENTRY_AUTH_TOKEN", sntry)
	pw1, pw2 := pick(alnum, 16), pick(alnum, 18)
	plant("riskmap-url-password", "/etc/app/database.yml", 3, pw1, "production:\n  adapter: postgresql\n  url: postgres://app:"+pw1+"@db.internal:5432/app\n")
	plant("riskmap-url-password", "/opt/queue/worker.ini", 2, pw2, "[broker]\nurl = amqp://worker:"+pw2+"@mq.internal:5672/jobs\n")
	return files, want
}

// pemBlock wraps raw bytes in a PEM block of the kind's private key.
func pemBlock(kind string, raw []byte) string {
	b64 := base64.StdEncoding.EncodeToString(raw)
	var s strings.Builder
	fmt.Fprintf(&s, "-----BEGIN %s %s-----\n", kind, "PRIVATE KEY")
	for len(b64) > 64 {
		s.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	fmt.Fprintf(&s, "%s\n-----END %s %s-----", b64, kind, "PRIVATE KEY")
	return s.String()
}

// Kinds counts the distinct rules of planted secrets.
func Kinds(want []Planted) int {
	k := map[string]bool{}
	for _, p := range want {
		k[p.Rule] = true
	}
	return len(k)
}
