"""Labelled sentences for NER training: (text, [(start, end, TYPE)]).

Slots: {P} person, {L} location, {O} organization; anything else is plain
text. Values come from Faker in several locales; casing is varied (chat is
often lower-case); about a third of the sentences are hard negatives.
"""

import random

from faker import Faker

LABELS = ["O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION", "B-ORGANIZATION", "I-ORGANIZATION"]
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE", "en_IN", "da_DK", "cs_CZ", "tr_TR",
           "fi_FI", "no_NO", "ro_RO", "hu_HU", "id_ID", "es_MX", "fr_CA", "de_AT", "de_CH", "en_AU", "en_IE", "pt_PT",
           "sk_SK", "hr_HR", "sl_SI", "yo_NG", "zu_ZA", "ig_NG", "tw_GH", "es_CO", "es_AR", "nl_BE", "ga_IE", "vi_VN"]
# Names as English text writes them from Chinese and Japanese.
ROMANIZED = ["zh_CN", "ja_JP", "zh_TW"]

POSITIVE = [
    "Hi {P}, thanks for your message.",
    "Dear {P},\nplease find the contract from {O} attached.",
    "{P} moved to {L} last year.",
    "Can you summarize the email {P} sent about the {O} merger?",
    "i met {P} at the {O} office in {L} yesterday",
    "Meeting notes: {P} ({O}) and {P} discussed the {L} launch.",
    "Customer {P} from {L} called about an invoice.",
    "{O} announced that {P} will lead its {L} branch.",
    "Please book a flight to {L} for {P}.",
    "My name is {P} and I work at {O}.",
    "my name is {P}, i live in {L}",
    "{\"name\": \"{P}\", \"city\": \"{L}\", \"employer\": \"{O}\"}",
    "name,city,company\n{P},{L},{O}",
    "2024-05-02 12:01:33 INFO login ok user=\"{P}\" org=\"{O}\"",
    "Forwarded message from {P} <redacted>: see you in {L}.",
    "Thanks {P}! Regards, {P}",
    "The patient, {P}, was admitted to {O} in {L}.",
    "{P} is the CEO of {O}.",
    "We shipped the order to {P}, {L}.",
    "Ask {P} whether {O} signed the NDA.",
    "Translate this for {P}: the office in {L} closes at 5.",
    "According to {P}, {O} is hiring in {L}.",
    "Reminder: call {P} before the {O} review.",
    "From: {P}\nTo: {P}\nSubject: {O} quarterly report",
    "Interview with {P}, a researcher at {O}.",
    "{P} and {P} are visiting {L} and {L} next week.",
    "Invoice billed to {O}, attention {P}, {L}.",
    "Hallo {P}, das Treffen mit {O} ist in {L}.",
    "Bonjour {P}, la réunion avec {O} aura lieu à {L}.",
    "Hola {P}, la reunión con {O} será en {L}.",
    "Ciao {P}, la riunione con {O} si terrà a {L}.",
    "Olá {P}, a reunião com {O} será em {L}.",
    "Hej {P}, mötet med {O} är i {L}.",
    "Witaj {P}, spotkanie z {O} odbędzie się w {L}.",
    "Signed, {P}, Head of Legal, {O}",
    "# TODO({P}): migrate {O} accounts before the {L} cutover",
    "reviewer: {P}\nteam: {O}\nsite: {L}",
    "{P} wrote: \"the {L} warehouse is full\"",
    "Is {O} based in {L}?",
    "What did {P} say about it?",
    "{P}'s flight from {L} landed.",
    "Send the slides to {P} at {O}.",
    "Our client {O} needs the {L} report by Friday, says {P}.",
    "Tenant: {P}. Address: {L}.",
    "Employee {P} transferred from {O} to {O}.",
    "Can {P} join the call with {O}?",
    "ok so {P} said {O} wont pay",
    "Born in {L}, {P} studied at {O}.",
    "Best regards,\n{P}\n{O}\n{L}",
    "Kind regards, {P} | {O}",
    "Mit freundlichen Grüßen\n{P}\n{O}",
    "Mit freundlichen Grüßen, {P}, {O}",
    "Sehr geehrte Frau {P}, vielen Dank für Ihre Anfrage an {O}.",
    "Sehr geehrter Herr {P}, Ihr Termin in {L} ist bestätigt.",
    "Cordialement,\n{P}\n{O}",
    "Madame {P}, votre dossier chez {O} à {L} est prêt.",
    "Saludos cordiales, {P} ({O})",
    "Hola, soy {P} y trabajo en {O} en {L}.",
    "Distinti saluti, {P} - {O}",
    "Gentile {P}, la sua pratica presso {O} è stata approvata.",
    "Ich heiße {P} und wohne in {L}.",
    "Je m'appelle {P}, j'habite à {L}.",
    "Me llamo {P} y vivo en {L}.",
    "Mi chiamo {P} e abito a {L}.",
    "{\"customer\": \"{P}\", \"company\": \"{O}\"}",
    "{\"full_name\": \"{P}\", \"address\": \"{L}\"}",
    "customer_name: {P}\ncompany: {O}\ncity: {L}",
    "<name>{P}</name><org>{O}</org>",
    "| {P} | {O} | {L} |",
    "Ticket #4411 opened by {P} ({O}): login fails from {L}.",
    "The contract between {O} and {O} was signed by {P}.",
    "{P} joined {O} in {L} as head of research.",
    "Please transfer the amount to {O}, attn. {P}.",
    "Shipping address: {P}, {L}",
    "Patient: {P}; referred by Dr. {P} of {O}.",
    "CC: {P}, {P}",
    "Spoke with {P} from {O} today; they want a demo in {L}.",
    "{P}: can you check the numbers?",
    "@{P} thanks!",
    "Photo by {P} in {L}.",
    "Donation received from {P} on behalf of {O}.",
    "Who is {P}?",
    "Tell me about {O}.",
    "Plan a trip from {L} to {L}.",
    # Names next to the words people put before them, in chat and mail.
    "my colleague {P} was charged twice",
    "My manager {P} approved the trip to {L}.",
    "Hey {P}! Are you still coming to {L} next week?",
    "I spoke with {P} at {O} on Tuesday; the branch in {L} will call back.",
    "Please forward this to {P} in our {L} office, cc {P}.",
    "Our {L} team (led by {P}) will coordinate with the {L} office.",
    "Can you book a table for 7pm under the name {P}?",
    "hi, this is {P} from the billing team",
    "Attendees: {P} ({O}), {P} ({O}), {P}.",
    "My landlord, {P}, lives in {L}.",
    "{P} met {P} in {L}.",
    "Kind regards,\n{P}\nSenior Engineer | {O} | {L}",
    "Thanks,\n{P}\nHead of Operations, {O}",
    "my friend {P} works at {O}",
    "{P} (she/her) | Product Manager at {O}",
    "Ask {P} to send the report to {L}.",
    "The shipment for {O} left {L} this morning; {P} has the tracking number.",
    "Did {P} reply to the email from {O}?",
    "{P} called from {L}: the {O} invoice is wrong.",
    "We're meeting {P} and {P} for lunch in {L}.",
    # The same, in the other languages users write.
    "Ciao {P}, domani vado a {L} con {P} per incontrare quelli di {O}.",
    "Ho parlato con {P} di {O} ieri a {L}.",
    "Hallo {P}, kun je {P} vragen om het rapport naar {L} te sturen?",
    "Ik heb {P} van {O} gesproken over het project in {L}.",
    "Olá {P}, a reunião com a {O} em {L} foi adiada.",
    "Falei com {P} da {O} sobre a filial de {L}.",
    "Hola, me llamo {P} y vivo en {L}. Trabajo para {O}.",
    "Mañana {P} viaja a {L} para reunirse con {O}.",
    "Bonjour {P}, pouvez-vous envoyer le devis à {P} chez {O} à {L} ?",
    "J'ai vu {P} hier à {L} avec les gens de {O}.",
    "Sehr geehrte Frau {P}, wir bestätigen Ihren Termin in unserer Filiale in {L}.",
    "Ich habe gestern mit {P} von {O} in {L} telefoniert.",
    "Kannst du {P} fragen, ob {O} die Rechnung bezahlt hat?",
    "Hej {P}, kan du skicka rapporten till {P} på {O}?",
    "Cześć {P}, jutro jadę do {L} na spotkanie z {O}.",
    "Merhaba {P}, yarın {L} ofisinde {O} ile toplantımız var.",
]

# Clauses that `_composed` strings together, so names are seen in more
# contexts than whole templates give.
CLAUSES = [
    "{P} said", "ask {P}", "with {P}", "tell {P}", "according to {P}", "{P} will call",
    "at {O}", "from {O}", "for {O}", "{O} signed", "the {O} account",
    "in {L}", "to {L}", "from {L}", "near {L}", "the {L} office",
    "con {P}", "a {L}", "presso {O}", "mit {P}", "in {L}", "bei {O}", "avec {P}", "à {L}", "chez {O}",
    "met {P}", "naar {L}", "bij {O}", "com {P}", "em {L}", "na {O}", "con {P}", "en {L}", "de {O}",
    "yesterday", "next week", "about the invoice", "before Friday", "as discussed", "if possible",
    "per favore", "bitte", "s'il vous plaît", "por favor", "alsjeblieft", "again", "today",
    # How people introduce themselves, and say where they are from or work.
    "I'm {P}", "this is {P}", "my name is {P}", "ich bin {P}", "ich heiße {P}", "je suis {P}",
    "je m'appelle {P}", "soy {P}", "me llamo {P}", "sono {P}", "mi chiamo {P}", "ik ben {P}", "ik heet {P}",
    "sou {P}", "chamo-me {P}", "jestem {P}", "jag heter {P}", "jeg hedder {P}",
    "aus {L}", "uit {L}", "da {L}", "de {L}", "z {L}", "från {L}", "fra {L}",
    "wohne in {L}", "habite à {L}", "vivo en {L}", "abito a {L}", "woon in {L}", "moro em {L}", "live in {L}",
    "von {O}", "für {O}", "van {O}", "para {O}", "pour {O}", "per {O}", "work at {O}", "arbeite bei {O}",
    "hallo", "bonjour", "hola", "ciao", "hi", "hej", "olá", "cześć",
]


def _composed():
    parts = random.sample(CLAUSES, random.randint(2, 4))
    text = " ".join(parts)
    text = text[0].upper() + text[1:] + random.choice([".", "?", "!", ""])
    return text

NEGATIVE = [
    "Please summarize the following text in three bullet points.",
    "The build failed with exit code 137 after 12 minutes.",
    "2024-05-02 12:01:33 ERROR worker-3 timeout after 30s (retry 2/5)",
    "Upgrade numpy to 1.26.4 and pandas to 2.2.1 before running.",
    "def parse_config(path): return json.load(open(path))",
    "SELECT id, created_at FROM orders WHERE status = 'paid' LIMIT 10;",
    "The quick brown fox jumps over the lazy dog.",
    "Translate 'good morning' into French and Spanish.",
    "What is the capital gains tax rate for short term holdings?",
    "The API returns 429 when the rate limit is exceeded.",
    "Set max_tokens to 256 and temperature to 0.2.",
    "Write a haiku about autumn leaves.",
    "Monday standup moved to 10:30; bring the sprint board.",
    "Thanks, that works great!",
    "Can you explain how transformers use attention?",
    "docker run -p 8080:80 nginx:1.25-alpine",
    "git commit -m \"fix: handle empty input\"",
    "Total: 3 items, subtotal 42.50, tax 3.40.",
    "The meeting is on Tuesday at noon in the main conference room.",
    "Apple pie recipe: apples, sugar, butter, flour, cinnamon.",
    "May I ask a question about the report?",
    "Will this change affect performance?",
    "Mark the task as done and close the ticket.",
    "The rose bush needs more sun.",
    "Use the bank of the river as a reference point.",
    "warning: unused variable `count` in src/main.rs:42",
    "pip install requests==2.32.5 urllib3<3",
    "Our revenue grew 12% quarter over quarter.",
    "Grace period ends after 30 days.",
    "Press Enter to continue or Ctrl+C to abort.",
    "uuid 9b2e7f9c-1c11-4a4e-8f0e-7d5d3a0c9f11 not found",
    "sha256: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
    "The Python package manager resolves dependencies.",
    "Windows Update KB5034441 failed to install.",
    "Open the Settings app and select Network.",
    "Summer sale: all shoes 20% off until Sunday.",
    "He said the weather was nice.",
    "She will send the file tomorrow.",
    "They agreed to postpone the launch.",
    "Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht.",
    "Mit freundlichen Grüßen",
    "Kannst du mir erklären, wie ein Transformer funktioniert?",
    "Die Rechnung ist fällig; bitte prüfen Sie die Zahlung bis Freitag.",
    "Der Server antwortet nicht, die Datenbank ist überlastet.",
    "Bitte fassen Sie den Bericht in drei Sätzen zusammen.",
    "Wie funktioniert die Verschlüsselung bei der Übertragung?",
    "Das Update behebt einen Fehler im Speicher.",
    "Peux-tu résumer ce texte en trois points ?",
    "Pouvez-vous traduire ce paragraphe en anglais ?",
    "Merci pour votre réponse rapide.",
    "Le serveur redémarre chaque nuit à deux heures.",
    "¿Puedes resumir este documento?",
    "Gracias por la información, lo reviso mañana.",
    "La factura vence el viernes.",
    "Puoi spiegarmi come funziona la rete neurale?",
    "Grazie mille per l'aiuto!",
    "Il rapporto trimestrale è pronto.",
    "Explain how a Transformer model uses attention.",
    "Compare Python and Rust for command line tools.",
    "Convert this Excel sheet to CSV.",
    "Kubernetes restarts the Pod when the Liveness probe fails.",
    "Is ETH or BTC more volatile this year?",
    "Price in USD, EUR and GBP.",
    "The JSON Schema marks the field as required.",
    "Dear Sir or Madam, thank you for your letter.",
    "Best regards, the Support Team",
    "Happy New Year to the whole team!",
    "Good Morning! Here is the Daily Report.",
    "Chapter 3: Results and Discussion",
    "Table 2 shows the Mean and Standard Deviation.",
    "Senior Engineer, Platform Team",
    "Sign-off: approved by the Head of Operations.",
    "Domani vado in ufficio per incontrare il cliente.",
    "Kun je het rapport morgen sturen?",
    "Wir bestätigen Ihren Termin in unserer Filiale.",
    "Pouvez-vous envoyer le devis avant vendredi ?",
    "A reunião foi adiada para a próxima semana.",
    "Trabajo desde casa los lunes.",
    "My colleague was charged twice for the same order.",
    "Our Paris-based team ships on Fridays.",
    "The Customer Success team will reach out.",
    "Release Notes: Bug Fixes and Performance Improvements",
]

FILLER = ["", "", "", "Note: ", "FYI ", "> ", "- ", "* ", "Q: ", "User: ", "Assistant: "]


ORG_SUFFIXES = [" Labs", " Group", " & Partners", " Logistics", " Consulting", " Inc.", " GmbH", " S.A.",
                " Holdings", " and Sons", " Ventures", " Capital", " Systems", " Solutions", " Technologies",
                " Industries", " GmbH & Co. KG", " KGaA", " AG", " e.G.", " S.L.", " S.p.A.", " S.r.l.", " B.V.",
                " N.V.", " Ltd", " PLC", " LLC", " Corp.", " SE", " Stiftung", " Verlag"]


def _org(fake):
    r = random.random()
    if r < 0.5:
        return fake.company()
    if r < 0.65:
        return random.choice(["University of ", "Bank of ", "Ministry of Health of ", "Port of ", "Hospital of ",
                              "Universität ", "Université de ", "Banco de "]) + fake.city()
    if r < 0.75:
        return f"{fake.last_name()}, {fake.last_name()} and {fake.last_name()}"
    return fake.last_name() + random.choice(ORG_SUFFIXES)


def _loc(fake):
    r = random.random()
    if r < 0.55:
        return fake.city()
    if r < 0.75:
        return fake.country()
    if r < 0.9:
        return fake.street_address()
    return f"{fake.city()}, {fake.country()}"


TITLES = ["Dr.", "Mr.", "Ms.", "Mrs.", "Prof.", "Dr. med.", "Dipl.-Ing.", "Prof. Dr.", "Mme", "Herr", "Frau", "Sr.", "Sra."]


_ROMANIZED = {}
PREFIXES = {"dr", "prof", "mr", "mrs", "ms", "miss", "mx", "sr", "sra", "srta", "dott", "dott.ssa", "öğr", "herr",
            "frau", "mme", "mlle", "pan", "pani", "ing", "mgr", "bc", "doc", "univ.prof", "dipl.-ing", "quý", "cô",
            "ông", "bà", "anh", "chị", "em", "bác", "dn", "dna", "hr", "fr", "med"}


def _untitled(name):
    """(title, name) for a Faker name that may start with titles ("Dr. med. Anna Berg", "öğr. Sami Açıkel")."""
    words = name.split(" ")
    i = 0
    while i < len(words) - 1 and (words[i].lower().rstrip(".") in PREFIXES or
                                  (words[i].endswith(".") and len(words[i]) >= 3)):
        i += 1
    return " ".join(words[:i]) + (" " if i else ""), " ".join(words[i:])


def _person(fake):
    """(title, name): a title before the name is not part of it."""
    r = random.random()
    if r < 0.08:
        loc = random.choice(ROMANIZED)
        gen = _ROMANIZED.setdefault(loc, Faker(loc))
        return "", gen.romanized_name().title()
    if r < 0.55:
        return _untitled(fake.name())
    if r < 0.75:
        return "", fake.first_name()
    if r < 0.85:
        return "", f"{fake.first_name()} {fake.last_name()}"
    if r < 0.93:
        return random.choice(TITLES) + " ", fake.last_name()
    return random.choice(TITLES) + " ", f"{fake.first_name()} {fake.last_name()}"


def _recase(text, spans):
    r = random.random()
    if r < 0.2 and len(text.lower()) == len(text):
        return text.lower(), spans
    if r < 0.25 and len(text.upper()) == len(text):
        return text.upper(), spans
    return text, spans


def fill(template, fakes):
    fake = random.choice(fakes)
    out, spans, i = "", [], 0
    while i < len(template):
        if template.startswith(("{P}", "{L}", "{O}"), i):
            kind = template[i + 1]
            title, value = _person(fake) if kind == "P" else ("", {"L": _loc, "O": _org}[kind](fake))
            out += title
            value = value.replace("\n", ", ")
            t = {"P": "PERSON", "L": "LOCATION", "O": "ORGANIZATION"}[kind]
            spans.append((len(out), len(out) + len(value), t))
            out += value
            i += 3
        else:
            out += template[i]
            i += 1
    return out, spans


COLUMNS = ["order_id", "qty", "total", "sku", "price", "status", "created_at", "amount", "currency",
           "id", "count", "ms", "latency", "region_code", "item", "unit", "tax", "discount", "score"]
LOG_WORDS = ["GET", "POST", "PUT", "INFO", "WARN", "ERROR", "DEBUG", "ok", "retry", "timeout", "cache",
             "hit", "miss", "worker", "queue", "job", "done", "req", "resp", "db", "conn"]


def _generated_negative():
    """Tables, logs and numbers in many shapes (often lower case)."""
    r = random.random()
    if r < 0.35:
        cols = random.sample(COLUMNS, random.randint(2, 5))
        rows = [",".join(str(random.choice([random.randint(0, 99999), round(random.random() * 100, 2),
                                             random.choice(["ok", "paid", "eur", "usd", "n/a"])]))
                         for _ in cols) for _ in range(random.randint(1, 3))]
        return "\n".join([",".join(cols)] + rows)
    if r < 0.7:
        parts = [f"2025-0{random.randint(1, 9)}-1{random.randint(0, 9)}T1{random.randint(0, 9)}:0{random.randint(0, 9)}:00Z"]
        for _ in range(random.randint(3, 8)):
            k = random.random()
            if k < 0.4:
                parts.append(random.choice(LOG_WORDS))
            elif k < 0.6:
                parts.append(f"{random.randint(1, 999)}ms")
            elif k < 0.8:
                parts.append("%012x" % random.getrandbits(48))
            else:
                parts.append(f"{random.choice(COLUMNS)}={random.randint(0, 500)}")
        return " ".join(parts)
    return " ".join(str(random.choice([random.randint(0, 9999), f"{random.random() * 1000:.3f}",
                                       random.choice(COLUMNS)])) for _ in range(random.randint(3, 9)))


def generate(n, seed):
    random.seed(seed)
    Faker.seed(seed)
    fakes = [Faker(loc) for loc in LOCALES]
    samples = []
    for _ in range(n):
        r = random.random()
        if r < 0.15:
            text, spans = random.choice(NEGATIVE), []
        elif r < 0.26:
            text, spans = _generated_negative(), []
        elif r < 0.45:
            text, spans = fill(_composed(), fakes)
        else:
            text, spans = fill(random.choice(POSITIVE), fakes)
        prefix = random.choice(FILLER)
        text = prefix + text
        spans = [(s + len(prefix), e + len(prefix), t) for s, e, t in spans]
        samples.append(_recase(text, spans))
    return samples
