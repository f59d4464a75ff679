package sqlref

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func kindsAndTexts(t *testing.T, src string) []string {
	t.Helper()
	toks, err := Lex(src)
	require.NoError(t, err)
	out := make([]string, len(toks))
	for i, tok := range toks {
		out[i] = tok.Kind.String() + ":" + tok.Text
	}
	return out
}

func TestLex(t *testing.T) {
	t.Parallel()

	t.Run("PositionsSurviveCommentsAndNewlines", func(t *testing.T) {
		t.Parallel()
		src := "SELECT a -- note\n/* multi\nline */ FROM # hash\n  `p.d.t`"
		toks, err := Lex(src)
		require.NoError(t, err)
		require.Len(t, toks, 4)
		require.Equal(t, Pos{Offset: 0, Line: 1, Column: 1}, toks[0].Pos)
		require.Equal(t, Pos{Offset: 7, Line: 1, Column: 8}, toks[1].Pos)
		require.Equal(t, "FROM", toks[2].Text)
		require.Equal(t, 3, toks[2].Pos.Line)
		require.Equal(t, 9, toks[2].Pos.Column)
		require.Equal(t, Pos{Offset: len(src) - 7, Line: 4, Column: 3}, toks[3].Pos)
		require.Equal(t, len(src), toks[3].End)
		require.Equal(t, "p.d.t", UnquoteIdent(toks[3].Text))
	})

	t.Run("EachTokenKind", func(t *testing.T) {
		t.Parallel()
		got := kindsAndTexts(t, "select Foo `a\\`b` 'x' \"y\" '''z\n''' r'\\d' B'\\x01' rb\"q\" 1 2.5 .5 1e10 3E-2 0xFF @p @@dataset_id ?")
		require.Equal(t, []string{
			"Keyword:select", "Ident:Foo", "QuotedIdent:`a\\`b`", "String:'x'", "String:\"y\"", "String:'''z\n'''",
			"String:r'\\d'", "Bytes:B'\\x01'", "Bytes:rb\"q\"", "Number:1", "Number:2.5", "Number:.5",
			"Number:1e10", "Number:3E-2", "Number:0xFF", "Param:@p", "SysVar:@@dataset_id", "Param:?",
		}, got)
	})

	t.Run("Operators", func(t *testing.T) {
		t.Parallel()
		got := kindsAndTexts(t, ". , ; ( ) [ ] { } < > <= >= != <> = + - * / || << >> & | ^ ~ => -> : |>")
		want := []string{}
		for _, op := range []string{".", ",", ";", "(", ")", "[", "]", "{", "}", "<", ">", "<=", ">=", "!=", "<>", "=", "+", "-", "*", "/", "||", "<<", ">>", "&", "|", "^", "~", "=>", "->", ":", "|>"} {
			want = append(want, "Op:"+op)
		}
		require.Equal(t, want, got)
	})

	t.Run("KeywordsAfterDotAreIdentifiers", func(t *testing.T) {
		t.Parallel()
		toks, err := Lex("ds.select AND x.1")
		require.NoError(t, err)
		require.Equal(t, KindIdent, toks[2].Kind)
		require.Equal(t, WordNone, toks[2].Word)
		require.Equal(t, KindKeyword, toks[3].Kind)
		require.Equal(t, WAND, toks[3].Word)
		require.Equal(t, "Op:.", toks[5].Kind.String()+":"+toks[5].Text)
		require.Equal(t, "1", toks[6].Text)
	})

	t.Run("DashedNamesStayTokens", func(t *testing.T) {
		t.Parallel()
		got := kindsAndTexts(t, "my-project-1.ds.t a-b")
		require.Equal(t, []string{"Ident:my", "Op:-", "Ident:project", "Op:-", "Number:1.", "Ident:ds", "Op:.", "Ident:t", "Ident:a", "Op:-", "Ident:b"}, got)
	})

	t.Run("UnicodeSpacesSeparateTokens", func(t *testing.T) {
		t.Parallel()
		got := kindsAndTexts(t, "\uFEFFSELECT\u00A0a,\u2003naïve FROM t")
		require.Equal(t, []string{"Keyword:SELECT", "Ident:a", "Op:,", "Ident:naïve", "Keyword:FROM", "Ident:t"}, got)
	})

	t.Run("ErrorsHaveLineAndColumn", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			src       string
			line, col int
			text      string
		}{
			{"SELECT 1;\nSELECT 'abc", 2, 8, "'abc"},
			{"SELECT 1\n  /* open", 2, 3, "/*"},
			{"SELECT\n\n   `p.d", 3, 4, "`p.d"},
			{"SELECT $ x", 1, 8, "$"}, // a lone $ ($x and ${x} are templates)
			{"SELECT '''never", 1, 8, "'''never"},
		} {
			_, err := Lex(tc.src)
			var le *Error
			require.True(t, errors.As(err, &le), "%q: %v", tc.src, err)
			require.Equal(t, tc.line, le.Line, tc.src)
			require.Equal(t, tc.col, le.Column, tc.src)
			require.Equal(t, tc.text, le.Text, tc.src)
		}
	})
}

func TestUnquoteIdent(t *testing.T) {
	t.Parallel()
	require.Equal(t, "plain", UnquoteIdent("plain"))
	require.Equal(t, "p.d.t", UnquoteIdent("`p.d.t`"))
	require.Equal(t, "a`b", UnquoteIdent("`a\\`b`"))
}
