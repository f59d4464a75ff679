package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// A small reader of the HCL subset deploy/terraform uses: blocks with quoted labels, and
// attributes whose expressions are kept as text. It knows strings with ${...} interpolations
// (which may hold quotes and braces), bracketed multi-line expressions and comments, which is
// enough to find every resource, attribute and nested block without Terraform or its modules.

type hclBlock struct {
	Type   string
	Labels []string
	Attrs  map[string]string // raw expression text
	Blocks []*hclBlock
	File   string
}

// Block returns the first nested block of type typ (also "dynamic" blocks labelled typ, whose
// content block it returns), or nil.
func (b *hclBlock) Block(typ string) *hclBlock {
	for _, c := range b.Blocks {
		if c.Type == typ {
			return c
		}
		if c.Type == "dynamic" && len(c.Labels) == 1 && c.Labels[0] == typ {
			return c.Block("content")
		}
	}
	return nil
}

// All returns the nested blocks of type typ, looking through "dynamic" blocks.
func (b *hclBlock) All(typ string) []*hclBlock {
	var out []*hclBlock
	for _, c := range b.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
		if c.Type == "dynamic" && len(c.Labels) == 1 && c.Labels[0] == typ {
			if content := c.Block("content"); content != nil {
				out = append(out, content)
			}
		}
	}
	return out
}

// Str returns the attribute's value when it is a plain string literal.
func (b *hclBlock) Str(name string) (string, bool) {
	expr, ok := b.Attrs[name]
	if !ok || len(expr) < 2 || expr[0] != '"' || strings.Contains(expr, "${") {
		return "", false
	}
	s, err := strconv.Unquote(expr)
	return s, err == nil
}

type hclParser struct {
	src  string
	pos  int
	file string
}

func parseHCLFiles(dir string) ([]*hclBlock, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s: %v", dir, err)
	}
	var out []*hclBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		p := &hclParser{src: string(data), file: filepath.Base(f)}
		root, err := p.body(false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, b := range root.Blocks {
			b.File = p.file
		}
		out = append(out, root.Blocks...)
	}
	return out, nil
}

func (p *hclParser) errorf(format string, args ...any) error {
	line := strings.Count(p.src[:min(p.pos, len(p.src))], "\n") + 1
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// skip passes over spaces, newlines and comments.
func (p *hclParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.pos++
		case c == '#' || strings.HasPrefix(p.src[p.pos:], "//"):
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *hclParser) body(nested bool) (*hclBlock, error) {
	b := &hclBlock{Attrs: map[string]string{}}
	for {
		p.skip()
		if p.pos >= len(p.src) {
			if nested {
				return nil, p.errorf("unclosed block")
			}
			return b, nil
		}
		if p.src[p.pos] == '}' {
			if !nested {
				return nil, p.errorf("unexpected }")
			}
			p.pos++
			return b, nil
		}
		name := p.ident()
		if name == "" {
			return nil, p.errorf("expected a name, found %q", p.src[p.pos:min(p.pos+20, len(p.src))])
		}
		p.skipSpaces()
		if p.pos < len(p.src) && p.src[p.pos] == '=' {
			p.pos++
			expr, err := p.expr()
			if err != nil {
				return nil, err
			}
			if _, dup := b.Attrs[name]; dup {
				return nil, p.errorf("attribute %s set twice", name)
			}
			b.Attrs[name] = expr
			continue
		}
		child := &hclBlock{Type: name}
		for {
			p.skipSpaces()
			if p.pos >= len(p.src) {
				return nil, p.errorf("block %s has no body", name)
			}
			if p.src[p.pos] == '{' {
				p.pos++
				break
			}
			if p.src[p.pos] != '"' {
				return nil, p.errorf("block %s: expected a label or {", name)
			}
			start := p.pos
			if err := p.str(); err != nil {
				return nil, err
			}
			label, err := strconv.Unquote(p.src[start:p.pos])
			if err != nil {
				return nil, p.errorf("bad label %s", p.src[start:p.pos])
			}
			child.Labels = append(child.Labels, label)
		}
		inner, err := p.body(true)
		if err != nil {
			return nil, err
		}
		child.Attrs, child.Blocks = inner.Attrs, inner.Blocks
		b.Blocks = append(b.Blocks, child)
	}
}

func (p *hclParser) skipSpaces() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *hclParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) {
		r := rune(p.src[p.pos])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			break
		}
		p.pos++
	}
	return p.src[start:p.pos]
}

// expr reads an expression up to the end of its line, continuing over lines inside brackets.
func (p *hclParser) expr() (string, error) {
	p.skipSpaces()
	start := p.pos
	var closers []byte
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			if err := p.str(); err != nil {
				return "", err
			}
			continue
		case c == '#' && len(closers) > 0, strings.HasPrefix(p.src[p.pos:], "//") && len(closers) > 0:
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			continue
		case c == '(' || c == '[' || c == '{':
			closers = append(closers, map[byte]byte{'(': ')', '[': ']', '{': '}'}[c])
		case c == ')' || c == ']' || c == '}':
			if len(closers) == 0 || closers[len(closers)-1] != c {
				return "", p.errorf("unbalanced %q", c)
			}
			closers = closers[:len(closers)-1]
		case (c == '\n' || c == '#') && len(closers) == 0:
			return strings.TrimSpace(p.src[start:p.pos]), nil
		}
		p.pos++
	}
	if len(closers) > 0 {
		return "", p.errorf("unclosed bracket in expression")
	}
	return strings.TrimSpace(p.src[start:p.pos]), nil
}

// str reads a quoted string, including ${...} interpolations that hold strings of their own.
func (p *hclParser) str() error {
	p.pos++ // opening quote
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == '\\':
			p.pos += 2
		case c == '"':
			p.pos++
			return nil
		case c == '\n':
			return p.errorf("newline in string")
		case strings.HasPrefix(p.src[p.pos:], "${"):
			p.pos += 2
			depth := 1
			for depth > 0 {
				if p.pos >= len(p.src) {
					return p.errorf("unclosed interpolation")
				}
				switch p.src[p.pos] {
				case '"':
					if err := p.str(); err != nil {
						return err
					}
					continue
				case '{':
					depth++
				case '}':
					depth--
				}
				p.pos++
			}
		default:
			p.pos++
		}
	}
	return p.errorf("unclosed string")
}

var saRef = regexp.MustCompile(`google_service_account\.([a-z_]+)\.(?:email|name|member)`)

// serviceAccountRefs returns the labels of the google_service_account resources expr names.
func serviceAccountRefs(expr string) []string {
	var out []string
	for _, m := range saRef.FindAllStringSubmatch(expr, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}
