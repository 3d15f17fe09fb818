"""Labelled sentences for NER training: (text, [(start, end, TYPE)]).

Slots: {P} person, {L} location, {O} organization; anything else is plain
text. Values come from Faker in several locales; casing is varied (chat is
often lower-case); about a third of the sentences are hard negatives.
"""

import random

from faker import Faker

LABELS = ["O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION", "B-ORGANIZATION", "I-ORGANIZATION"]
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE", "en_IN", "da_DK", "cs_CZ", "tr_TR"]

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
]

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
]

FILLER = ["", "", "", "Note: ", "FYI ", "> ", "- ", "* ", "Q: ", "User: ", "Assistant: "]


def _org(fake):
    r = random.random()
    if r < 0.6:
        return fake.company()
    if r < 0.8:
        return random.choice(["University of ", "Bank of ", "Ministry of Health of ", "Port of "]) + fake.city()
    return fake.last_name() + random.choice([" Labs", " Group", " & Partners", " Logistics", " Consulting", " Inc.", " GmbH", " S.A."])


def _loc(fake):
    r = random.random()
    if r < 0.55:
        return fake.city()
    if r < 0.75:
        return fake.country()
    if r < 0.9:
        return fake.street_address()
    return f"{fake.city()}, {fake.country()}"


def _person(fake):
    r = random.random()
    if r < 0.55:
        return fake.name()
    if r < 0.75:
        return fake.first_name()
    if r < 0.9:
        return f"{fake.first_name()} {fake.last_name()}"
    return f"{random.choice(['Dr.', 'Mr.', 'Ms.', 'Mrs.', 'Prof.'])} {fake.last_name()}"


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
            value = {"P": _person, "L": _loc, "O": _org}[kind](fake)
            value = value.replace("\n", ", ")
            t = {"P": "PERSON", "L": "LOCATION", "O": "ORGANIZATION"}[kind]
            spans.append((len(out), len(out) + len(value), t))
            out += value
            i += 3
        else:
            out += template[i]
            i += 1
    return out, spans


def generate(n, seed):
    random.seed(seed)
    Faker.seed(seed)
    fakes = [Faker(loc) for loc in LOCALES]
    samples = []
    for _ in range(n):
        if random.random() < 0.3:
            text, spans = random.choice(NEGATIVE), []
        else:
            text, spans = fill(random.choice(POSITIVE), fakes)
        prefix = random.choice(FILLER)
        text = prefix + text
        spans = [(s + len(prefix), e + len(prefix), t) for s, e, t in spans]
        samples.append(_recase(text, spans))
    return samples
