package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// keyPathError rewrites a decoding error so that each message names the key
// path (store.url, notify.routes[0].match) at its line.
func keyPathError(raw []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return err // a syntax error: yaml's message has the line
	}
	paths := map[int][]string{}
	keyPaths(&root, "", paths)
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out []error
	for _, m := range msgs {
		sub := lineRE.FindStringSubmatch(m)
		if sub == nil {
			out = append(out, errors.New(m))
			continue
		}
		line, _ := strconv.Atoi(sub[1])
		msg, onLine := sub[2], paths[line]
		p := ""
		if len(onLine) > 0 {
			p = onLine[len(onLine)-1]
		}
		if f, ok := strings.CutPrefix(msg, "field "); ok {
			if name, _, ok := strings.Cut(f, " not found"); ok {
				msg = "unknown key " + strconv.Quote(name)
				for _, k := range onLine {
					if k == name || strings.HasSuffix(k, "."+name) {
						p = k
					}
				}
			}
		}
		if p != "" {
			out = append(out, fmt.Errorf("line %s: %s: %s", sub[1], p, msg))
		} else {
			out = append(out, fmt.Errorf("line %s: %s", sub[1], msg))
		}
	}
	return errors.Join(out...)
}

// keyPaths records, for each line, the paths of the keys on it in order,
// or, for a line without keys, the path of what starts there (a list item,
// a value).
func keyPaths(n *yaml.Node, prefix string, paths map[int][]string) {
	note := func(line int, p string) {
		if len(paths[line]) == 0 {
			paths[line] = []string{p}
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			keyPaths(c, prefix, paths)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			if l := paths[k.Line]; len(l) == 1 && !strings.HasPrefix(p, l[0]) {
				paths[k.Line] = nil // a list item's path, now refined by its keys
			}
			paths[k.Line] = append(paths[k.Line], p)
			note(v.Line, p)
			keyPaths(v, p, paths)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			note(c.Line, p)
			keyPaths(c, p, paths)
		}
	}
}
