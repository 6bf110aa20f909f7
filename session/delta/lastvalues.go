package delta

// lastValues returns vs with one value per name: of a name there more than once, the
// last value (with its stamp), at the name's first place, as Tomcat's
// DeltaSession.readObject puts each attribute into its map in the stream's order (a
// later value of a name replaces the earlier, keeping its place in neither a map nor
// here an order that matters); BinaryCodec reads a session so too. It returns vs itself
// when no name repeats, without allocating when vs holds at most smallNames values
// (TestLastValuesAllocatesNothing), in time linear in their number otherwise.
func lastValues(vs []NamedValue) []NamedValue {
	if !repeatsName(vs) {
		return vs
	}
	first := make(map[string]int, len(vs))
	out := make([]NamedValue, 0, len(vs))
	for _, v := range vs {
		if j, ok := first[v.Name]; ok {
			out[j] = v
			continue
		}
		first[v.Name] = len(out)
		out = append(out, v)
	}
	return out
}

// smallNames is the most values repeatsName compares pairwise (at most 120 comparisons)
// instead of building a map.
const smallNames = 16

// repeatsName reports whether a name is there more than once in vs.
func repeatsName(vs []NamedValue) bool {
	if len(vs) < 2 {
		return false
	}
	if len(vs) <= smallNames {
		for i := 1; i < len(vs); i++ {
			for j := range i {
				if vs[i].Name == vs[j].Name {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(vs))
	for _, v := range vs {
		if _, ok := seen[v.Name]; ok {
			return true
		}
		seen[v.Name] = struct{}{}
	}
	return false
}
