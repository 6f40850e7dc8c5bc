package restapi

import (
	"context"
	"fmt"
)

// MaxPages bounds a listing against an API that keeps paging on.
const MaxPages = 100000

// Pages calls page with first and then with each next-page cursor it
// returns (a URL, a token, a page number), until it returns "" or the
// cursor it was given, at most MaxPages times, checking ctx before each
// page.
func Pages(ctx context.Context, first string, page func(cursor string) (next string, err error)) error {
	cursor := first
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n == MaxPages {
			return fmt.Errorf("more than %d pages", MaxPages)
		}
		next, err := page(cursor)
		if err != nil {
			return err
		}
		if next == "" || next == cursor {
			return nil
		}
		cursor = next
	}
}

// LinkPages GETs rawURL with c and the pages its Link headers name
// (NextLink: kept on the API's host), reads each with parse and calls fn
// with the entries of every page that has some.
func LinkPages[T any](ctx context.Context, c *Client, rawURL string, parse func(body []byte) ([]T, error), fn func(page []T) error) error {
	return Pages(ctx, rawURL, func(u string) (string, error) {
		a, err := c.Get(ctx, u, nil)
		if err != nil {
			return "", err
		}
		items, err := parse(a.Body)
		if err != nil {
			return "", err
		}
		if len(items) > 0 {
			if err := fn(items); err != nil {
				return "", err
			}
		}
		return NextLink(a.Header.Values("Link"), a.URL)
	})
}
