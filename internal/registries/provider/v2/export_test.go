package v2

// SetPageSize makes a registry ask for smaller pages (pagination tests).
func (r *Registry) SetPageSize(n int) { r.pageSize = n }
