package intake

import "io"

// Records passes r on and fails, with the MaxRecord limit error, when one
// CSV record (a line; newlines inside double quotes belong to it) is longer
// than max bytes: encoding/csv holds a whole record, so a file of one
// endless line would be held whole.
func Records(r io.Reader, max int) io.Reader { return &records{r: r, max: max} }

type records struct {
	r      io.Reader
	max    int
	n      int   // bytes of the current record
	quoted bool  // inside double quotes
	off    int64 // bytes passed
}

func (c *records) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		switch {
		case b == '"':
			c.quoted = !c.quoted
		case b == '\n' && !c.quoted:
			c.n = 0
			continue
		}
		if c.n++; c.n > c.max {
			return i, &LimitError{Limit: "MaxRecord", Max: int64(c.max), Offset: c.off + int64(i)}
		}
	}
	c.off += int64(n)
	return n, err
}
