package store

import "strings"

// Where gathers the conditions of a query built from optional filters, with
// their arguments in order:
//
//	var w store.Where
//	if f.Kind != "" {
//		w.Add("kind = ?", f.Kind)
//	}
//	rows, err := db.QueryContext(ctx, "SELECT ... FROM jobs"+w.SQL()+" ORDER BY id", w.Args()...)
type Where struct {
	conds []string
	args  []any
}

// Add appends a condition and the arguments of its placeholders.
func (w *Where) Add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// SQL is " WHERE c1 AND c2 ...", or "" with no condition.
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Args are the arguments of the conditions' placeholders, in order.
func (w *Where) Args() []any { return w.args }
