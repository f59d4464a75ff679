package webui

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHighlightSQL(t *testing.T) {
	t.Run("ColoursTokensAndKeepsEveryCharacter", func(t *testing.T) {
		src := "SELECT a, `p.d.t` /* why */ FROM t WHERE x > @since -- done\n"
		got := string(highlightSQL(src))
		require.Equal(t, `<span class="k">SELECT</span> a, <span class="q">`+"`p.d.t`"+`</span> <span class="c">/* why */</span> `+
			`<span class="k">FROM</span> t <span class="k">WHERE</span> x <span class="o">&gt;</span> <span class="p">@since</span> <span class="c">-- done`+"\n"+`</span>`, got)
	})

	t.Run("MarksWhatFollowsALexicalError", func(t *testing.T) {
		got := string(highlightSQL("SELECT 'open\nFROM t"))
		require.True(t, strings.HasSuffix(got, `<span class="err">&#39;open`+"\n"+`FROM t</span>`), got)
	})

	t.Run("EscapesWhatItShows", func(t *testing.T) {
		got := string(highlightSQL("SELECT '</code><script>x</script>'"))
		require.NotContains(t, got, "<script>")
	})
}
