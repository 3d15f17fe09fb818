#!/usr/bin/env bash
# Counts false names in real text no model was trained on: the DESCRIPTION
# sections of the manual pages installed here (English, German, French,
# Spanish, Italian, Dutch, Brazilian Portuguese, Polish, Swedish), which
# name nobody. Prints how many of the lines get a PERSON, LOCATION or
# ORGANIZATION from `veil redact`, with the model folder given (default:
# models/ner).
#
#   bash models/ner/real_text_probe.sh [MODEL_DIR]
#
# Needs `man` and the manual pages (Debian: man-db, manpages-*).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-models/ner}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

section() {
    # $1: page, $2: the heading of its description in that language.
    MANWIDTH=2000 man -l "$1" 2>/dev/null | col -b |
        awk -v h="$2" '$0 ~ "^"h {on=1; next} /^[[:upper:]][[:upper:] ]*$/ {on=0} on'
}

# `head` stops reading early; that is no failure here.
set +o pipefail
{
    for page in $(ls /usr/share/man/man1/*.gz | sort | awk 'NR % 40 == 1' | head -25); do
        section "$page" DESCRIPTION
    done
    for pair in de:BESCHREIBUNG fr:DESCRIPTION es:DESCRIPCIÓN it:DESCRIZIONE nl:BESCHRIJVING \
        pt_BR:DESCRIÇÃO pl:OPIS sv:BESKRIVNING; do
        lang="${pair%%:*}"
        for page in $(ls /usr/share/man/"$lang"/man1/*.gz 2>/dev/null | sort | head -12); do
            section "$page" "${pair#*:}"
        done | sed 's/^ *//' | awk 'length > 30' | head -120
    done
} | sed 's/^ *//' | awk 'length > 30' > "$work/probe.txt"
set -o pipefail

printf '[redaction]\nner_model_dir = "%s"\n' "$dir" > "$work/veil.toml"
cargo run --quiet --release -- redact --config "$work/veil.toml" \
    --entities PERSON,LOCATION,ORGANIZATION "$work/probe.txt" -o "$work/out.txt"
lines=$(wc -l < "$work/probe.txt")
hit=$(grep -c '\[\(PERSON\|LOCATION\|ORGANIZATION\)_[0-9]*\]' "$work/out.txt" || true)
echo "$dir: $hit of $lines lines of manual pages with a name"
