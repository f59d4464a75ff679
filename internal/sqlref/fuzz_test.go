package sqlref

import (
	"errors"
	"testing"
)

// FuzzLex checks that the lexer never panics, that tokens are in order inside the input, and
// that errors carry a position inside it.
func FuzzLex(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		toks, err := Lex(src)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("error is not *Error: %v", err)
			}
			if le.Offset < 0 || le.Offset > len(src) || le.Line < 1 || le.Column < 1 {
				t.Fatalf("error position out of range: %+v", le)
			}
			return
		}
		last := 0
		for _, tok := range toks {
			if tok.Pos.Offset < last || tok.End <= tok.Pos.Offset || tok.End > len(src) {
				t.Fatalf("token %+v out of order or outside the %d-byte input", tok, len(src))
			}
			if src[tok.Pos.Offset:tok.End] != tok.Text {
				t.Fatalf("token text %q does not match its span", tok.Text)
			}
			last = tok.End
		}
	})
}

// FuzzExtract checks that Extract never panics and that a successful Result keeps its
// contract: spans inside the input, Reads and Writes sorted and unique, and every reference
// naming a reported table.
func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		res, err := Extract(src, Options{DefaultProject: "p"})
		if err != nil {
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("error is not *Error: %v", err)
			}
			return
		}
		for _, list := range [][]TableName{res.Reads, res.Writes} {
			for i := 1; i < len(list); i++ {
				if !list[i-1].Less(list[i]) {
					t.Fatalf("not sorted and unique: %v", list)
				}
			}
		}
		known := map[TableName]bool{}
		for _, n := range res.Reads {
			known[n] = true
		}
		for _, n := range res.Writes {
			known[n] = true
		}
		for _, r := range res.References {
			if r.Start < 0 || r.Start >= r.End || r.End > len(src) {
				t.Fatalf("reference %+v outside the %d-byte input", r, len(src))
			}
			if !known[r.Name] {
				t.Fatalf("reference %v is neither read nor written", r.Name)
			}
		}
	})
}

// fuzzSeeds are small realistic inputs; the corpus under testdata/fuzz holds more.
var fuzzSeeds = []string{
	"SELECT * FROM `p.d.t` AS t, t.items",
	"WITH a AS (SELECT 1) SELECT * FROM a JOIN ds.a USING (x)",
	"DECLARE x INT64 DEFAULT (SELECT 1 FROM ds.t); IF x > 0 THEN INSERT INTO ds.o SELECT 1; END IF;",
	"MERGE ds.t T USING (SELECT * FROM ds.s) S ON T.id = S.id WHEN MATCHED THEN DELETE",
	"SELECT * FROM my-project-1.ds.t WHERE a-b > 0",
	"CREATE TEMP TABLE x AS SELECT 1; SELECT * FROM x",
	"FROM ds.t |> WHERE x > 1 |> JOIN ds.u USING (id)",
	"SELECT r'\\d', b'\\x00', '''multi\nline''' FROM ds.t -- c\n/* c */ # c",
}
