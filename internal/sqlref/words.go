// Keyword table for the lexer: reserved GoogleSQL keywords first, then words the extractor steers by.
package sqlref

// Word identifies a keyword (reserved or not) by number so the extractor compares integers.
type Word uint8

// Word values; WordNone means the token is not a known word.
const (
	WordNone Word = iota
	WALL
	WAND
	WANY
	WARRAY
	WAS
	WASC
	WASSERTROWSMODIFIED
	WAT
	WBETWEEN
	WBY
	WCASE
	WCAST
	WCOLLATE
	WCONTAINS
	WCREATE
	WCROSS
	WCUBE
	WCURRENT
	WDEFAULT
	WDEFINE
	WDESC
	WDISTINCT
	WELSE
	WEND
	WENUM
	WESCAPE
	WEXCEPT
	WEXCLUDE
	WEXISTS
	WEXTRACT
	WFALSE
	WFETCH
	WFOLLOWING
	WFOR
	WFROM
	WFULL
	WGROUP
	WGROUPING
	WGROUPS
	WHASH
	WHAVING
	WIF
	WIGNORE
	WIN
	WINNER
	WINTERSECT
	WINTERVAL
	WINTO
	WIS
	WJOIN
	WLATERAL
	WLEFT
	WLIKE
	WLIMIT
	WLOOKUP
	WMERGE
	WNATURAL
	WNEW
	WNO
	WNOT
	WNULL
	WNULLS
	WOF
	WON
	WOR
	WORDER
	WOUTER
	WOVER
	WPARTITION
	WPRECEDING
	WPROTO
	WQUALIFY
	WRANGE
	WRECURSIVE
	WRESPECT
	WRIGHT
	WROLLUP
	WROWS
	WSELECT
	WSET
	WSOME
	WSTRUCT
	WTABLESAMPLE
	WTHEN
	WTO
	WTREAT
	WTRUE
	WUNBOUNDED
	WUNION
	WUNNEST
	WUSING
	WWHEN
	WWHERE
	WWINDOW
	WWITH
	WWITHIN
	WTABLE
	WVIEW
	WMATERIALIZED
	WTEMP
	WTEMPORARY
	WREPLACE
	WINSERT
	WUPDATE
	WDELETE
	WTRUNCATE
	WFUNCTION
	WPROCEDURE
	WMODEL
	WSCHEMA
	WDROP
	WALTER
	WDECLARE
	WBEGIN
	WTRANSACTION
	WCOMMIT
	WROLLBACK
	WCALL
	WEXECUTE
	WIMMEDIATE
	WLOOP
	WWHILE
	WREPEAT
	WUNTIL
	WDO
	WELSEIF
	WEXCEPTION
	WERROR
	WBREAK
	WLEAVE
	WCONTINUE
	WITERATE
	WRETURN
	WRAISE
	WASSERT
	WEXPORT
	WLOAD
	WDATA
	WOVERWRITE
	WGRANT
	WREVOKE
	WEXTERNAL
	WSNAPSHOT
	WCLONE
	WCOPY
	WVALUES
	WOFFSET
	WSYSTEMTIME
	WSYSTEM
	WPIVOT
	WUNPIVOT
	WOPTIONS
	WRETURNS
	WLANGUAGE
	WMATCHED
	WAGGREGATE
	WDESCRIBE
	WSHOW
	WROW
	WACCESS
	WPOLICY
	WINDEX
	WSEARCH
	WVECTOR
	WCAPACITY
	WRESERVATION
	WASSIGNMENT
	WCLUSTER
	WVALUE
	WEXPLAIN
	WUNDROP
	WRENAME
	WUSE
	WINFORMATIONSCHEMA
	WSESSION
	WDATABASE
	WCATALOG
	WDEFINER
	WINVOKER
	WSECURITY
	WPRIVILEGE
	WPRIVILEGES
	WSTATEMENT
	WELSIF
	WCORRESPONDING
	WBUT
	WZONE
	WCONSTRAINT
	WPRIMARY
	WFOREIGN
	WKEY
	WOUTPUT
	WPERCENT
	WREPLICA
	WDATASET
	WLABEL
	WORDINALITY
	WLAST
	WFIRST
	WONLY
	WNAME
	WWITHOUT
	WCONNECTION
	WINCLUDE
	WTRAININGDATA
)

// numReserved is how many Word values, after WordNone, are GoogleSQL reserved keywords.
const numReserved = 96

// lookupWord classifies lower, an ASCII-lowercased word, without allocating.
func lookupWord(lower []byte) Word {
	switch string(lower) {
	case "all":
		return WALL
	case "and":
		return WAND
	case "any":
		return WANY
	case "array":
		return WARRAY
	case "as":
		return WAS
	case "asc":
		return WASC
	case "assert_rows_modified":
		return WASSERTROWSMODIFIED
	case "at":
		return WAT
	case "between":
		return WBETWEEN
	case "by":
		return WBY
	case "case":
		return WCASE
	case "cast":
		return WCAST
	case "collate":
		return WCOLLATE
	case "contains":
		return WCONTAINS
	case "create":
		return WCREATE
	case "cross":
		return WCROSS
	case "cube":
		return WCUBE
	case "current":
		return WCURRENT
	case "default":
		return WDEFAULT
	case "define":
		return WDEFINE
	case "desc":
		return WDESC
	case "distinct":
		return WDISTINCT
	case "else":
		return WELSE
	case "end":
		return WEND
	case "enum":
		return WENUM
	case "escape":
		return WESCAPE
	case "except":
		return WEXCEPT
	case "exclude":
		return WEXCLUDE
	case "exists":
		return WEXISTS
	case "extract":
		return WEXTRACT
	case "false":
		return WFALSE
	case "fetch":
		return WFETCH
	case "following":
		return WFOLLOWING
	case "for":
		return WFOR
	case "from":
		return WFROM
	case "full":
		return WFULL
	case "group":
		return WGROUP
	case "grouping":
		return WGROUPING
	case "groups":
		return WGROUPS
	case "hash":
		return WHASH
	case "having":
		return WHAVING
	case "if":
		return WIF
	case "ignore":
		return WIGNORE
	case "in":
		return WIN
	case "inner":
		return WINNER
	case "intersect":
		return WINTERSECT
	case "interval":
		return WINTERVAL
	case "into":
		return WINTO
	case "is":
		return WIS
	case "join":
		return WJOIN
	case "lateral":
		return WLATERAL
	case "left":
		return WLEFT
	case "like":
		return WLIKE
	case "limit":
		return WLIMIT
	case "lookup":
		return WLOOKUP
	case "merge":
		return WMERGE
	case "natural":
		return WNATURAL
	case "new":
		return WNEW
	case "no":
		return WNO
	case "not":
		return WNOT
	case "null":
		return WNULL
	case "nulls":
		return WNULLS
	case "of":
		return WOF
	case "on":
		return WON
	case "or":
		return WOR
	case "order":
		return WORDER
	case "outer":
		return WOUTER
	case "over":
		return WOVER
	case "partition":
		return WPARTITION
	case "preceding":
		return WPRECEDING
	case "proto":
		return WPROTO
	case "qualify":
		return WQUALIFY
	case "range":
		return WRANGE
	case "recursive":
		return WRECURSIVE
	case "respect":
		return WRESPECT
	case "right":
		return WRIGHT
	case "rollup":
		return WROLLUP
	case "rows":
		return WROWS
	case "select":
		return WSELECT
	case "set":
		return WSET
	case "some":
		return WSOME
	case "struct":
		return WSTRUCT
	case "tablesample":
		return WTABLESAMPLE
	case "then":
		return WTHEN
	case "to":
		return WTO
	case "treat":
		return WTREAT
	case "true":
		return WTRUE
	case "unbounded":
		return WUNBOUNDED
	case "union":
		return WUNION
	case "unnest":
		return WUNNEST
	case "using":
		return WUSING
	case "when":
		return WWHEN
	case "where":
		return WWHERE
	case "window":
		return WWINDOW
	case "with":
		return WWITH
	case "within":
		return WWITHIN
	case "table":
		return WTABLE
	case "view":
		return WVIEW
	case "materialized":
		return WMATERIALIZED
	case "temp":
		return WTEMP
	case "temporary":
		return WTEMPORARY
	case "replace":
		return WREPLACE
	case "insert":
		return WINSERT
	case "update":
		return WUPDATE
	case "delete":
		return WDELETE
	case "truncate":
		return WTRUNCATE
	case "function":
		return WFUNCTION
	case "procedure":
		return WPROCEDURE
	case "model":
		return WMODEL
	case "schema":
		return WSCHEMA
	case "drop":
		return WDROP
	case "alter":
		return WALTER
	case "declare":
		return WDECLARE
	case "begin":
		return WBEGIN
	case "transaction":
		return WTRANSACTION
	case "commit":
		return WCOMMIT
	case "rollback":
		return WROLLBACK
	case "call":
		return WCALL
	case "execute":
		return WEXECUTE
	case "immediate":
		return WIMMEDIATE
	case "loop":
		return WLOOP
	case "while":
		return WWHILE
	case "repeat":
		return WREPEAT
	case "until":
		return WUNTIL
	case "do":
		return WDO
	case "elseif":
		return WELSEIF
	case "exception":
		return WEXCEPTION
	case "error":
		return WERROR
	case "break":
		return WBREAK
	case "leave":
		return WLEAVE
	case "continue":
		return WCONTINUE
	case "iterate":
		return WITERATE
	case "return":
		return WRETURN
	case "raise":
		return WRAISE
	case "assert":
		return WASSERT
	case "export":
		return WEXPORT
	case "load":
		return WLOAD
	case "data":
		return WDATA
	case "overwrite":
		return WOVERWRITE
	case "grant":
		return WGRANT
	case "revoke":
		return WREVOKE
	case "external":
		return WEXTERNAL
	case "snapshot":
		return WSNAPSHOT
	case "clone":
		return WCLONE
	case "copy":
		return WCOPY
	case "values":
		return WVALUES
	case "offset":
		return WOFFSET
	case "system_time":
		return WSYSTEMTIME
	case "system":
		return WSYSTEM
	case "pivot":
		return WPIVOT
	case "unpivot":
		return WUNPIVOT
	case "options":
		return WOPTIONS
	case "returns":
		return WRETURNS
	case "language":
		return WLANGUAGE
	case "matched":
		return WMATCHED
	case "aggregate":
		return WAGGREGATE
	case "describe":
		return WDESCRIBE
	case "show":
		return WSHOW
	case "row":
		return WROW
	case "access":
		return WACCESS
	case "policy":
		return WPOLICY
	case "index":
		return WINDEX
	case "search":
		return WSEARCH
	case "vector":
		return WVECTOR
	case "capacity":
		return WCAPACITY
	case "reservation":
		return WRESERVATION
	case "assignment":
		return WASSIGNMENT
	case "cluster":
		return WCLUSTER
	case "value":
		return WVALUE
	case "explain":
		return WEXPLAIN
	case "undrop":
		return WUNDROP
	case "rename":
		return WRENAME
	case "use":
		return WUSE
	case "information_schema":
		return WINFORMATIONSCHEMA
	case "_session":
		return WSESSION
	case "database":
		return WDATABASE
	case "catalog":
		return WCATALOG
	case "definer":
		return WDEFINER
	case "invoker":
		return WINVOKER
	case "security":
		return WSECURITY
	case "privilege":
		return WPRIVILEGE
	case "privileges":
		return WPRIVILEGES
	case "statement":
		return WSTATEMENT
	case "elsif":
		return WELSIF
	case "corresponding":
		return WCORRESPONDING
	case "but":
		return WBUT
	case "zone":
		return WZONE
	case "constraint":
		return WCONSTRAINT
	case "primary":
		return WPRIMARY
	case "foreign":
		return WFOREIGN
	case "key":
		return WKEY
	case "output":
		return WOUTPUT
	case "percent":
		return WPERCENT
	case "replica":
		return WREPLICA
	case "dataset":
		return WDATASET
	case "label":
		return WLABEL
	case "ordinality":
		return WORDINALITY
	case "last":
		return WLAST
	case "first":
		return WFIRST
	case "only":
		return WONLY
	case "name":
		return WNAME
	case "without":
		return WWITHOUT
	case "connection":
		return WCONNECTION
	case "include":
		return WINCLUDE
	case "training_data":
		return WTRAININGDATA
	}
	return WordNone
}

var wordNames = [...]string{"", "ALL", "AND", "ANY", "ARRAY", "AS", "ASC", "ASSERT_ROWS_MODIFIED", "AT", "BETWEEN", "BY", "CASE", "CAST", "COLLATE", "CONTAINS", "CREATE", "CROSS", "CUBE", "CURRENT", "DEFAULT", "DEFINE", "DESC", "DISTINCT", "ELSE", "END", "ENUM", "ESCAPE", "EXCEPT", "EXCLUDE", "EXISTS", "EXTRACT", "FALSE", "FETCH", "FOLLOWING", "FOR", "FROM", "FULL", "GROUP", "GROUPING", "GROUPS", "HASH", "HAVING", "IF", "IGNORE", "IN", "INNER", "INTERSECT", "INTERVAL", "INTO", "IS", "JOIN", "LATERAL", "LEFT", "LIKE", "LIMIT", "LOOKUP", "MERGE", "NATURAL", "NEW", "NO", "NOT", "NULL", "NULLS", "OF", "ON", "OR", "ORDER", "OUTER", "OVER", "PARTITION", "PRECEDING", "PROTO", "QUALIFY", "RANGE", "RECURSIVE", "RESPECT", "RIGHT", "ROLLUP", "ROWS", "SELECT", "SET", "SOME", "STRUCT", "TABLESAMPLE", "THEN", "TO", "TREAT", "TRUE", "UNBOUNDED", "UNION", "UNNEST", "USING", "WHEN", "WHERE", "WINDOW", "WITH", "WITHIN", "TABLE", "VIEW", "MATERIALIZED", "TEMP", "TEMPORARY", "REPLACE", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "FUNCTION", "PROCEDURE", "MODEL", "SCHEMA", "DROP", "ALTER", "DECLARE", "BEGIN", "TRANSACTION", "COMMIT", "ROLLBACK", "CALL", "EXECUTE", "IMMEDIATE", "LOOP", "WHILE", "REPEAT", "UNTIL", "DO", "ELSEIF", "EXCEPTION", "ERROR", "BREAK", "LEAVE", "CONTINUE", "ITERATE", "RETURN", "RAISE", "ASSERT", "EXPORT", "LOAD", "DATA", "OVERWRITE", "GRANT", "REVOKE", "EXTERNAL", "SNAPSHOT", "CLONE", "COPY", "VALUES", "OFFSET", "SYSTEM_TIME", "SYSTEM", "PIVOT", "UNPIVOT", "OPTIONS", "RETURNS", "LANGUAGE", "MATCHED", "AGGREGATE", "DESCRIBE", "SHOW", "ROW", "ACCESS", "POLICY", "INDEX", "SEARCH", "VECTOR", "CAPACITY", "RESERVATION", "ASSIGNMENT", "CLUSTER", "VALUE", "EXPLAIN", "UNDROP", "RENAME", "USE", "INFORMATION_SCHEMA", "_SESSION", "DATABASE", "CATALOG", "DEFINER", "INVOKER", "SECURITY", "PRIVILEGE", "PRIVILEGES", "STATEMENT", "ELSIF", "CORRESPONDING", "BUT", "ZONE", "CONSTRAINT", "PRIMARY", "FOREIGN", "KEY", "OUTPUT", "PERCENT", "REPLICA", "DATASET", "LABEL", "ORDINALITY", "LAST", "FIRST", "ONLY", "NAME", "WITHOUT", "CONNECTION", "INCLUDE", "TRAINING_DATA"}
