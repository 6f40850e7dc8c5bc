// Command gobin is an accuracy-suite target: a binary linked against old,
// vulnerable module versions.
package main

import (
	"fmt"

	jwt "github.com/dgrijalva/jwt-go"
	"github.com/gorilla/websocket"
	"github.com/tidwall/gjson"
	"golang.org/x/net/html"
	"golang.org/x/text/language"
	yaml "gopkg.in/yaml.v2"
)

func main() {
	_ = jwt.New(jwt.SigningMethodHS256)
	_ = websocket.Upgrader{}
	_ = gjson.Get(`{"a":1}`, "a")
	_, _ = html.Parse(nil)
	_ = language.English
	_, _ = yaml.Marshal(map[string]int{"a": 1})
	fmt.Println("ok")
}
