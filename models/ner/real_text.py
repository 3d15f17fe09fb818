"""Collects real, name-free text from this machine for NER training negatives.

Sources: the gettext catalogs under /usr/share/locale (user-interface
messages of the installed Debian packages, in the original English and in
17 languages) and the docstrings of the Python standard library. Catalogs
full of names of places (ISO 3166, keyboard layouts, mirrors) are skipped,
and so are lines that name people ("written by", copyright, thanks).
Placeholders (%s, {x}, <tag>) become "X". One line per message, shuffled,
into OUT (default /tmp/ner-real-text.txt).

Nothing of it is committed: it depends on the packages installed, and
train.py only needs the lines. Run:
    /tmp/train/bin/python models/ner/real_text.py
"""

import ast
import gettext
import glob
import os
import random
import re
import sys

OUT = os.environ.get("NER_REAL_TEXT", "/tmp/ner-real-text.txt")
LANGS = ["de", "fr", "es", "it", "pt", "pt_BR", "nl", "sv", "pl", "da", "cs", "tr", "fi", "nb", "ro", "hu", "id"]
# Catalogs that are lists of places, languages or regions.
SKIP_CATALOGS = ["iso_", "xkeyboard", "software-properties", "python-apt", "tzdata", "libgweather"]
# Lines that name people.
SKIP_WORDS = ["written", "geschrieben", "écrit", "escrit", "scritto", "geschreven", "skrevet", "skriven",
              "napisan", "copyright", "©", "author", "autor", "auteur", "autore", "maintain", "contribut",
              "thank", "dank", "merci", "grazie", "gracias"]


def clean(text):
    text = re.sub(r"\s+", " ", text.replace("&", "").replace("_", " ")).strip()
    return re.sub(r"%[-0-9.]*[sdluxf]|\{[^}]*\}|<[^>]*>", "X", text)


def keep(text):
    words = text.split()
    return (3 <= len(words) <= 40
            and sum(c.isalpha() for c in text) > len(text) * 0.6
            and not any(w in text.lower() for w in SKIP_WORDS)
            and not re.search(r"\bby [A-Z]", text))


def messages():
    for lang in LANGS:
        for path in glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"):
            if any(s in path for s in SKIP_CATALOGS):
                continue
            try:
                with open(path, "rb") as f:
                    catalog = gettext.GNUTranslations(f)._catalog
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            for key, value in catalog.items():
                key = key[0] if isinstance(key, tuple) else key
                if key:
                    yield from key.split("\n")
                    yield from value.split("\n")


def docstrings(limit=3000):
    files = sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))
    random.shuffle(files)
    for path in files[:limit]:
        try:
            with open(path, errors="ignore") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node)
                if doc:
                    yield from re.split(r"\n\s*\n|(?<=[.!?])\s+", doc)


def main():
    random.seed(5)
    lines = set()
    for source in (messages(), docstrings()):
        lines.update(t for t in map(clean, source) if keep(t))
    out = sorted(lines)
    random.shuffle(out)
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(out)} lines in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
