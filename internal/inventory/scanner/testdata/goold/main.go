// Command goold is a test fixture: a binary built from old module versions
// with known vulnerabilities, scanned for its embedded build information.
package main

import (
	"fmt"

	"github.com/gorilla/websocket"
	"golang.org/x/text/language"
)

func main() {
	fmt.Println(language.English, websocket.TextMessage)
}
