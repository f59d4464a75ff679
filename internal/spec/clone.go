package spec

import "slices"

// Clone returns a copy of t that shares no slice or pointer with it. A store that caches
// definitions hands out clones, so that a caller changing what it got changes nothing for the
// next one. TestCloneSharesNothing fails when a field is added that Clone does not copy.
func (t Table) Clone() Table {
	c := t
	if t.Import != nil {
		imp := *t.Import
		if imp.FullRefresh != nil {
			fr := *imp.FullRefresh
			fr.Conditions = fr.Conditions.clone()
			imp.FullRefresh = &fr
		}
		c.Import = &imp
	}
	if t.External != nil {
		ext := *t.External
		ext.Schema = slices.Clone(ext.Schema)
		c.External = &ext
	}
	if t.Exports != nil {
		c.Exports = make([]Export, len(t.Exports))
		for i, e := range t.Exports {
			c.Exports[i] = e.clone()
		}
	}
	c.Schedules = slices.Clone(t.Schedules)
	c.ClusterBy = slices.Clone(t.ClusterBy)
	c.Conditions = t.Conditions.clone()
	c.ReadsPrevious = slices.Clone(t.ReadsPrevious)
	return c
}

func (e Export) clone() Export {
	if e.Sheet != nil {
		s := *e.Sheet
		e.Sheet = &s
	}
	if e.Postgres != nil {
		p := *e.Postgres
		e.Postgres = &p
	}
	if e.Callback != nil {
		cb := *e.Callback
		e.Callback = &cb
	}
	return e
}

func (c Conditions) clone() Conditions {
	return Conditions{Months: slices.Clone(c.Months), Weekdays: slices.Clone(c.Weekdays),
		Days: slices.Clone(c.Days), Hours: slices.Clone(c.Hours)}
}
