package sqlref

// wordTableSize is a power of two comfortably above the number of words, so probes are short.
const wordTableSize = 4096

// wordTable is an open-addressing hash table from the case-folded hash of a word (as the lexer
// computes it while scanning the identifier) to its Word. It is built once and never written.
var wordTable = buildWordTable()

func wordHash(s string) uint32 {
	h := uint32(s[0] | 0x20)
	for i := 1; i < len(s); i++ {
		h = h*31 + uint32(s[i]|0x20)
	}
	return h
}

func buildWordTable() *[wordTableSize]Word {
	var t [wordTableSize]Word
	for w := 1; w < len(wordLower); w++ {
		for k := wordHash(wordLower[w]) & (wordTableSize - 1); ; k = (k + 1) & (wordTableSize - 1) {
			if t[k] == WordNone {
				t[k] = Word(w)
				break
			}
		}
	}
	return &t
}

// lookupWordHash returns the Word spelled by text (any case), given wordHash(text), or WordNone.
// It does not allocate.
func lookupWordHash(text string, h uint32) Word {
	for k := h & (wordTableSize - 1); ; k = (k + 1) & (wordTableSize - 1) {
		w := wordTable[k]
		if w == WordNone {
			return WordNone
		}
		if name := wordLower[w]; len(name) == len(text) && equalFoldASCII(text, name) {
			return w
		}
	}
}

// equalFoldASCII compares s with lower, which is already lowercase ASCII.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
