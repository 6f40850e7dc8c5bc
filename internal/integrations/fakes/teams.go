package fakes

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TeamsMaxMessage is the size limit of a Teams message, 28 KB
// (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook).
const TeamsMaxMessage = 28 << 10

// TeamsMaxCardVersion is the highest Adaptive Card version Teams renders.
const TeamsMaxCardVersion = "1.5"

// TeamsMessage is a message a Teams fake accepted; Cards are the
// attachments' contents.
type TeamsMessage struct {
	Raw   json.RawMessage
	Cards []map[string]any
}

// Teams is a Microsoft Teams workflow (Power Automate "When a Teams
// webhook request is received") URL.
type Teams struct {
	*Server
	path, sig string

	mu       sync.Mutex
	messages []TeamsMessage
}

// NewTeams starts a Teams workflow webhook.
func NewTeams(t testing.TB) *Teams {
	s := &Teams{path: "/workflows/" + token(32) + "/triggers/manual/paths/invoke", sig: token(43)}
	s.Server = newServer(t, http.HandlerFunc(s.serve), func(status int) (string, string) {
		return "application/json", teamsError(map[int]string{429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
			400: "InvalidRequestContent", 401: "DirectApiAuthorizationRequired"}[status], http.StatusText(status))
	})
	return s
}

func teamsError(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return string(b)
}

// WebhookURL is the workflow's secret URL (its sig parameter signs it).
func (s *Teams) WebhookURL() string {
	return s.URL() + s.path + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + s.sig
}

// Messages lists the accepted messages, oldest first.
func (s *Teams) Messages() []TeamsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TeamsMessage(nil), s.messages...)
}

func (s *Teams) serve(w http.ResponseWriter, r *http.Request) {
	const ct = "application/json"
	bad := func(status int, code, reason string) {
		s.reject(w, status, ct, teamsError(code, reason), reason)
	}
	if r.URL.Path != s.path {
		bad(http.StatusNotFound, "WorkflowNotFound", "unknown workflow")
		return
	}
	if r.URL.Query().Get("sig") != s.sig {
		bad(http.StatusUnauthorized, "DirectApiAuthorizationRequired", "the request's signature is wrong")
		return
	}
	if r.Method != http.MethodPost {
		bad(http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		bad(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Type "+r.Header.Get("Content-Type"))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		bad(http.StatusBadRequest, "InvalidRequestContent", err.Error())
		return
	}
	if len(raw) > TeamsMaxMessage {
		bad(http.StatusRequestEntityTooLarge, "MessageSizeTooBig", "message over 28 KB")
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		bad(http.StatusBadRequest, "InvalidRequestContent", err.Error())
		return
	}
	var c checker
	cards := checkTeamsMessage(&c, v)
	if !c.ok() {
		bad(http.StatusBadRequest, "InvalidRequestContent", c.String())
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, TeamsMessage{Raw: raw, Cards: cards})
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// checkTeamsMessage checks a message with Adaptive Card attachments, as
// the workflow's "Post card in a chat or channel" action needs it
// (https://learn.microsoft.com/connectors/teams/#microsoft-teams-webhook).
// The real trigger answers 202 and fails in the flow run; the fake refuses
// at once so that tests see the mistake.
func checkTeamsMessage(c *checker, v any) []map[string]any {
	msg, ok := c.object("", v)
	if !ok {
		return nil
	}
	c.enum("", msg, "type", true, false, "message")
	atts, _ := c.array("", msg, "attachments", true, 1, 10)
	var cards []map[string]any
	for i, a := range atts {
		path := item("attachments", i)
		o, ok := c.object(path, a)
		if !ok {
			continue
		}
		c.enum(path, o, "contentType", true, false, "application/vnd.microsoft.card.adaptive")
		if u, there := o["contentUrl"]; there && u != nil {
			c.failf(join(path, "contentUrl"), "must be null")
		}
		card, ok := c.object(join(path, "content"), o["content"])
		if !ok {
			continue
		}
		cards = append(cards, card)
		checkAdaptiveCard(c, join(path, "content"), card)
	}
	return cards
}

// Adaptive Card versions and the elements and properties the fake knows
// (https://adaptivecards.io/explorer/, https://learn.microsoft.com/adaptive-cards/schema-explorer/).
var cardVersions = []string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}

func checkAdaptiveCard(c *checker, path string, card map[string]any) {
	c.enum(path, card, "type", true, false, "AdaptiveCard")
	version := c.enum(path, card, "version", true, false, cardVersions...)
	if s, ok := card["$schema"].(string); ok && !strings.HasPrefix(s, "http") {
		c.failf(join(path, "$schema"), "not a URL")
	}
	need := func(p, what, min string) {
		if version != "" && slices.Index(cardVersions, version) < slices.Index(cardVersions, min) {
			c.failf(p, "%s needs card version %s, the card says %s", what, min, version)
		}
	}
	var elements func(path string, o map[string]any, key string, required bool)
	elements = func(path string, o map[string]any, key string, required bool) {
		arr, _ := c.array(path, o, key, required, 0, 0)
		for i, v := range arr {
			p := item(join(path, key), i)
			e, ok := c.object(p, v)
			if !ok {
				continue
			}
			c.enum(p, e, "spacing", false, true, "none", "small", "default", "medium", "large", "extraLarge", "padding")
			c.boolean(p, e, "separator")
			switch typ, _ := c.str(p, e, "type", true, 0); typ {
			case "TextBlock":
				c.str(p, e, "text", true, 0)
				c.boolean(p, e, "wrap")
				c.boolean(p, e, "isSubtle")
				c.enum(p, e, "size", false, true, "default", "small", "medium", "large", "extraLarge")
				c.enum(p, e, "weight", false, true, "default", "lighter", "bolder")
				c.enum(p, e, "color", false, true, "default", "dark", "light", "accent", "good", "warning", "attention")
				if _, there := e["style"]; there {
					c.enum(p, e, "style", false, true, "default", "heading")
					need(join(p, "style"), "TextBlock.style", "1.5")
				}
			case "FactSet":
				facts, _ := c.array(p, e, "facts", true, 1, 0)
				for j, f := range facts {
					fp := item(join(p, "facts"), j)
					if fo, ok := c.object(fp, f); ok {
						c.str(fp, fo, "title", true, 0)
						c.str(fp, fo, "value", true, 0)
					}
				}
			case "Container":
				c.enum(p, e, "style", false, true, "default", "emphasis", "good", "attention", "warning", "accent")
				c.boolean(p, e, "bleed")
				elements(p, e, "items", true)
			case "ColumnSet":
				cols, _ := c.array(p, e, "columns", false, 0, 0)
				for j, col := range cols {
					cp := item(join(p, "columns"), j)
					if co, ok := c.object(cp, col); ok {
						c.enum(cp, co, "type", false, false, "Column")
						elements(cp, co, "items", false)
					}
				}
			case "ActionSet":
				actions(c, p, e, version)
			case "Image":
				c.absURL(p, e, "url", true, 0)
			case "":
			default:
				c.failf(join(p, "type"), "element type %q is not supported by this fake", typ)
			}
		}
	}
	elements(path, card, "body", false)
	actions(c, path, card, version)
}

func actions(c *checker, path string, o map[string]any, version string) {
	arr, _ := c.array(path, o, "actions", false, 0, 6)
	for i, v := range arr {
		p := item(join(path, "actions"), i)
		a, ok := c.object(p, v)
		if !ok {
			continue
		}
		c.str(p, a, "title", false, 0)
		switch typ, _ := c.str(p, a, "type", true, 0); typ {
		case "Action.OpenUrl":
			c.absURL(p, a, "url", true, 0)
		case "":
		default:
			c.failf(join(p, "type"), "action type %q is not supported by this fake", typ)
		}
	}
}
