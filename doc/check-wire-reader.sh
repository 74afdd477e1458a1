#!/bin/sh
# The reader pseudo-code in wire-format.md must keep the rule of its own error
# table: end of file is the orderly end (END/EOF) only at the start of a
# record; inside one (read_exactly) it is CUT_OFF, i.e. -ECONNRESET.
doc=${1:?usage: check-wire-reader.sh wire-format.md}
awk '
	/^## A reader in pseudo-code/ { inreader = 1; next }
	inreader && /^## / { inreader = 0 }
	!inreader { next }
	/^function / { fn = $2; sub(/\(.*/, "", fn) }
	fn == "read_exactly" && /return END/ {
		print "read_exactly returns END for end of file inside a record: " $0; bad = 1
	}
	/is END/ && prev !~ /read_record_start\(\)/ {
		print "END tested after something other than read_record_start(): " $0; bad = 1
	}
	/read_record_start\(\)/ { starts++ }
	{ prev = $0 }
	END {
		if (!starts) { print "no read_record_start() in the reader"; bad = 1 }
		exit bad
	}
' "$doc"
