#!/bin/sh
# Computes partial_name_*.txt from transfer/doc.go's words, with b3sum (the
# BLAKE3 reference tool, not ferry's code): the partial file of the file at
# PATH from SENDER is .ferry-<key>.part beside it, key = the first 15 bytes
# of BLAKE3-256("ferry partial v1" 00 ‖ sender ID ‖ path), lower-case base32
# without padding. The sender is RFC 8032 TEST 1's device
# (identity/testdata/golden/deviceid_rfc8032_key1.txt).
set -eu
cd "$(dirname "$0")"
sender=06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9
vector() { # file path partial-dir
	key=$( { printf 'ferry partial v1\0'; printf '%s' "$sender" | xxd -r -p; printf '%s' "$2"; } |
		b3sum --no-names --raw | head -c 15 | base32 | tr -d '=' | tr 'A-Z' 'a-z')
	{
		echo "# The partial file's and journal's names of $2 from RFC 8032 TEST 1's device."
		echo "# Written by gen_partial.sh."
		echo "sender: $sender"
		echo "path: $2"
		echo "partial: $3.ferry-$key.part"
	} >"$1"
}
vector partial_name_top_level.txt 'report.pdf' ''
vector partial_name_in_folder.txt 'photos/2026/été.jpg' 'photos/2026/'
