package rules

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// parseAddr parses an IP address given as a string, dropping a zone and
// unmapping IPv4-in-IPv6. ok is false for anything else.
func parseAddr(v any) (netip.Addr, bool) {
	s, ok := v.(string)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// cidrMatch implements cidr_match(ip, cidr...): whether ip is in any of the
// CIDRs. A value that is not an IP address matches nothing; an invalid CIDR
// is an error.
func cidrMatch(params ...any) (any, error) {
	if len(params) < 2 {
		return nil, fmt.Errorf("cidr_match takes an address and at least one CIDR")
	}
	a, ok := parseAddr(params[0])
	if set, isSet := params[1].(prefixSet); isSet {
		return ok && set.contains(a), nil
	}
	for _, c := range params[1:] {
		s, isStr := c.(string)
		if !isStr {
			return nil, fmt.Errorf("cidr_match: CIDR must be a string, got %T", c)
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("cidr_match: %w", err)
		}
		if ok && p.Contains(a) {
			return true, nil
		}
	}
	return false, nil
}

// cgnat is the shared address space of RFC 6598.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isPrivateIP implements is_private_ip(ip): RFC 1918 and unique local
// (fc00::/7) addresses, loopback, link-local and CGNAT (100.64.0.0/10).
// False for nil or anything that is not an IP address.
func isPrivateIP(params ...any) (any, error) {
	if len(params) != 1 {
		return nil, fmt.Errorf("is_private_ip takes 1 argument, got %d", len(params))
	}
	a, ok := parseAddr(params[0])
	if !ok {
		return false, nil
	}
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a), nil
}

// inList implements in_list("name", value); the name was bound to its List
// at compile time.
func inList(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, fmt.Errorf("in_list takes 2 arguments, got %d", len(params))
	}
	l, ok := params[0].(*List)
	if !ok {
		return nil, fmt.Errorf("in_list: unknown list %v", params[0])
	}
	s, ok := stringify(params[1])
	return ok && l.Contains(s), nil
}

// stringify returns the text of a scalar: strings as they are, numbers in
// decimal (integral floats without a fraction), booleans as true/false.
func stringify(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e18 {
			return strconv.FormatInt(int64(x), 10), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// getFunc implements get(obj, "a.b.c").
func getFunc(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, fmt.Errorf("get takes 2 arguments, got %d", len(params))
	}
	p, ok := params[1].(string)
	if !ok {
		return nil, fmt.Errorf("get: path must be a string, got %T", params[1])
	}
	return lookup(params[0], strings.Split(p, ".")), nil
}

// lookup follows path through nested maps (and lists, by decimal index);
// nil when any level is missing.
func lookup(v any, path []string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Lookup returns the value at a dotted field path in fields, or nil.
func Lookup(fields map[string]any, path string) any {
	return lookup(fields, strings.Split(path, "."))
}

// splitPaths splits dotted paths.
func splitPaths(paths []string) [][]string {
	out := make([][]string, len(paths))
	for i, p := range paths {
		out[i] = strings.Split(p, ".")
	}
	return out
}
