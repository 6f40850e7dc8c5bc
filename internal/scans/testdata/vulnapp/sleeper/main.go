// Command sleeper only sleeps: it loads none of vulnapp's dependencies.
package main

import "time"

func main() {
	for {
		time.Sleep(time.Hour)
	}
}
