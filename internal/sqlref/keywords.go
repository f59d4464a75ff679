package sqlref

// wordTableSize is a power of two comfortably above the number of words, so probes are short.
const wordTableSize = 4096

// wordTable is an open-addressing hash table from the case-folded hash of a word (as the lexer
// computes it while scanning the identifier) to its Word. It is built once and never written.
var wordTable = buildWordTable()

// wordHash hashes a word from its length and its first two and last bytes, case-folded, so the
// lexer need not hash every byte of every identifier it scans.
func wordHash(s string) uint32 {
	n := len(s)
	h := uint32(n)*0x9E3779B1 ^ uint32(s[0]|0x20)*0x85EBCA77
	h ^= uint32(s[n-1]|0x20) * 0xC2B2AE3D
	if n > 1 {
		h ^= uint32(s[1]|0x20) * 0x27D4EB2F
	}
	return h ^ h>>15
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

// lookupWord returns the Word spelled by text (any case, 1 to maxWordLen bytes), or WordNone.
// It does not allocate.
func lookupWord(text string) Word {
	h := wordHash(text)
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
