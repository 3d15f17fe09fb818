//! Pattern recognizers: every structured entity of DESIGN §6, each a regex
//! that finds candidates and a check that validates them (checksums, number
//! rules, parsing, context words), so look-alikes are not redacted.
//!
//! Regexes use ASCII word boundaries and digit classes, which the regex
//! crate's DFA runs without falling back on non-ASCII text; rules that start
//! with a literal (`sk-`, `AKIA`, `0x`, ...) are found through the crate's
//! literal prefilters, so adding one costs almost nothing. Context words
//! (`phone`, `born`, `ssn`, ...) are looked up only around candidates.

mod checks;
mod context;
mod names;
mod phone;
mod runs;
mod scope;

use regex::Regex;

use super::checksum;
use super::entity::{Entity, EntitySet, Finding, Source};
use super::{RedactError, Redactor, ceil_boundary};
use checks::*;
use context::*;
use names::{check_address, check_company, check_field, check_name_field};
use phone::check_phone;
use runs::{Covered, split_hits};
use scope::{Regions, Scope, next_digit};

/// A validated candidate: where it is (it may be narrower than the regex
/// match) and how sure the rule is.
struct Hit {
    start: usize,
    end: usize,
    score: f32,
}

/// Validates one candidate `text[start..end]`.
type Check = fn(&str, usize, usize) -> Option<Hit>;

struct Rule {
    entity: Entity,
    regex: Regex,
    /// Capture group holding the value (0: the whole match).
    group: usize,
    check: Check,
    /// Words near a candidate that raise its score.
    context: &'static ContextWords,
    /// Candidates are runs of number groups that may hold several values
    /// side by side ("call +44 20 7946 0958 4111 1111 1111 1111"): when the
    /// whole run fails, its sub-runs are tried.
    split: bool,
    /// How many digits a value of a `split` rule has: runs with fewer are
    /// dropped, and sub-runs outside the range are not checked.
    digits: std::ops::RangeInclusive<usize>,
    /// The rule runs only on texts holding one of these bytes (none: always).
    needs: &'static [u8],
    /// Where in a text its regex needs to look.
    scope: Scope,
}

const DIGITS: &[u8] = b"0123456789";

/// All pattern rules, compiled once.
pub struct Patterns {
    rules: Vec<Rule>,
}

impl Patterns {
    pub fn new() -> Result<Self, regex::Error> {
        let months = "jan(?:uary|vier|uar|eiro)?|feb(?:ruary|ruar)?|f[ée]v(?:rier)?|fevereiro|mar(?:ch|s|zo|ço)?|m[äa]rz|apr(?:il)?|avr(?:il)?|abr(?:il)?|may|mai|mayo|maio|maggio|jun(?:e|i|io|ho)?|juin|giugno|jul(?:y|i|io|ho)?|juil(?:let)?|luglio|aug(?:ust)?|ao[uû]t|ago(?:sto)?|sep(?:t|tember|tiembre|tembro)?|sett(?:embre)?|oct(?:ober|obre)?|okt(?:ober)?|out(?:ubro)?|ott(?:obre)?|nov(?:ember|embre|embro)?|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember|embro)?|dic(?:iembre|embre)?|enero|ene|febrero|gennaio";
        let date = format!(
            r"(?i)\b(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:of\s+|de\s+)?(?:{months})\.?,?\s+(?:de\s+)?\d{{4}}|(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b"
        );
        let secret_literals = [
            r"\bsk-ant-[A-Za-z0-9_\-]{20,}",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
            r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
            r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
            r"\bwhsec_[A-Za-z0-9+/=]{20,}",
            r"\bxox[abposre]-[A-Za-z0-9\-]{10,}",
            r"\bhttps://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+",
            r"\bAIza[0-9A-Za-z_\-]{35}",
            r"\bya29\.[0-9A-Za-z_\-]{20,}",
            r"\bGOCSPX-[0-9A-Za-z_\-]{20,}",
            r"\bhf_[A-Za-z0-9]{30,}\b",
            r"\bnpm_[A-Za-z0-9]{36}\b",
            r"\bvk_(?:live|test)_[A-Za-z0-9]{40}\b",
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            // Model providers: Groq, xAI, Perplexity, Replicate.
            r"\b(?:gsk_|xai-|pplx-)[A-Za-z0-9]{32,}\b",
            r"\br8_[A-Za-z0-9]{30,}\b",
            // SendGrid, Shopify, DigitalOcean, Vault, PyPI, Docker Hub.
            r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
            r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
            r"\bdo[opr]_v1_[a-f0-9]{64}\b",
            r"\bhv[sb]\.[A-Za-z0-9_\-]{24,}",
            r"\bpypi-AgE[A-Za-z0-9_\-]{50,}",
            r"\bdckr_pat_[A-Za-z0-9_\-]{20,}",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ]
        .join("|");
        let key_names = r"password|passwd|passphrase|pwd|pass|secret|secret[_\-]?key|api[_\-]?key|apikey|access[_\-]?key|access[_\-]?token|auth[_\-]?token|token|client[_\-]?secret|private[_\-]?key|db[_\-]?pass(?:word)?|aws_secret_access_key|(?:account|shared[_\-]?access|master|signing|encryption)[_\-]?key";
        let address = street_address_pattern();
        let rules = vec![
            rule(Entity::Secret, &secret_literals, 0, check_secret, &NO_CONTEXT)?,
            rule(
                Entity::Secret,
                &format!(
                    r#"(?i)(?:\b|_)(?:{key_names})["']?\s*(?::=|=>|[:=])\s*["']?([^\s"',;<>`]{{4,}})"#
                ),
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?
            .within(Scope::Near { words: &KEY_NAME_PARTS, before: 24, after: 32 }),
            rule(
                Entity::Secret,
                r#"(?i)\b(?:password|passcode|pin)\s+(?:is|was|=)\s+["']?([^\s"',;]{4,})"#,
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?
            // Spaces beyond 48 bytes cut the region short of the value.
            .within(Scope::Near { words: &SPOKEN_SECRET, before: 0, after: 48 }),
            rule(
                Entity::Secret,
                r#"(?i)\b(?:api[ _\-]?key|secret[ _\-]?key|access[ _\-]?key|token|secret|key)\s+(?:is|was|=|:)\s+["']?([A-Za-z0-9_\-.+/=]{16,})"#,
                1,
                check_spoken_key,
                &NO_CONTEXT,
            )?
            .within(Scope::Near { words: &KEY_NAME_PARTS, before: 0, after: 48 }),
            rule(
                Entity::Secret,
                r"(?i)\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]{1,64}:([^\s@/]{1,128})@",
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?
            .within(Scope::Near { words: &SCHEME_SEPARATOR, before: 22, after: 200 }),
            // A Telegram bot's token: its id, a colon, about 35 characters.
            // Apart from the literal-prefixed keys, whose regex the crate
            // finds through their prefixes; this one starts with digits.
            rule(
                Entity::Secret,
                r"\b[0-9]{8,10}:AA[A-Za-z0-9_\-]{30,40}\b",
                0,
                check_secret,
                &NO_CONTEXT,
            )?
            .within(Scope::NumberRuns { min_digits: 8, before: 0, after: 44 }),
            rule(
                Entity::Secret,
                r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{20,}=*)",
                1,
                check_secret,
                &NO_CONTEXT,
            )?
            .within(Scope::Near { words: &BEARER, before: 0, after: 48 }),
            rule(
                Entity::EmailAddress,
                r"(?i)\b[a-z0-9][a-z0-9._%+'\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b",
                0,
                check_email,
                &NO_CONTEXT,
            )?
            .within(Scope::Near { words: &AT_SIGN, before: 64, after: 0 }),
            rule(
                Entity::Url,
                r#"(?i)\b(?:(?:https?|ftp|wss?)://|www\.)[^\s<>"'`{}|\\^\[\]]+"#,
                0,
                check_url,
                &NO_CONTEXT,
            )?
            // Five bytes for the longest scheme, `https`.
            .within(Scope::Near { words: &URL_START, before: 5, after: 0 }),
            rule(
                Entity::IpAddress,
                r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b",
                0,
                check_ipv4,
                &NO_CONTEXT,
            )?
            .within(Scope::DottedQuads),
            rule(
                Entity::IpAddress,
                r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?(?:%[0-9a-z]+)?",
                0,
                check_ipv6,
                &NO_CONTEXT,
            )?
            .within(Scope::ColonRuns),
            rule(
                Entity::IbanCode,
                r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,8}(?: ?[a-z0-9]{1,4})?\b",
                0,
                check_iban,
                &NO_CONTEXT,
            )?
            .within(Scope::CountryCode { len: 50 }),
            rule(Entity::CreditCard, r"\b\d(?:[ \-]?\d){11,18}\b", 0, check_card, &CARD_CONTEXT)?,
            rule(
                Entity::UsSsn,
                r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b|\b\d{9}\b",
                0,
                check_ssn,
                &SSN_CONTEXT,
            )?,
            rule(
                Entity::PhoneNumber,
                r"(?:\+|\b00)?(?:\(\d{1,5}\)|\b\d{1,5})(?:[ .\-/]?\(\d{1,5}\)|[ .\-/]?\d{1,6}){1,6}(?:[ \t]?(?i:x|ext\.?|extn\.?|extension)[ \t]?\d{1,6})?\b",
                0,
                check_phone,
                &PHONE_CONTEXT,
            )?
            // Room after the number for an extension (" extension 12345").
            .within(Scope::NumberRuns { min_digits: 7, before: 4, after: 18 }),
            rule(
                Entity::Crypto,
                r"\b0x[0-9a-fA-F]{40}\b|(?i:\b(?:bc|tb|ltc)1[02-9ac-hj-np-z]{8,87}\b)|\b[13LMmn2][1-9A-HJ-NP-Za-km-z]{25,34}\b",
                0,
                check_crypto,
                &NO_CONTEXT,
            )?,
            rule(Entity::Location, &address, 0, check_address, &NO_CONTEXT)?
            // A street address has a house number within a few words.
            .within(Scope::NumberRuns { min_digits: 1, before: 72, after: 72 }),
            rule(Entity::Person, &field_pattern(PERSON_FIELDS), 1, check_name_field, &NO_CONTEXT)?
                .within(FIELD_SCOPE)
                .needing(b""),
            rule(Entity::Location, &field_pattern(PLACE_FIELDS), 1, check_field, &NO_CONTEXT)?
                .within(FIELD_SCOPE)
                .needing(b""),
            rule(Entity::Organization, &field_pattern(ORG_FIELDS), 1, check_field, &NO_CONTEXT)?
                .within(FIELD_SCOPE)
                .needing(b""),
            rule(Entity::Organization, &company_pattern(), 0, check_company, &NO_CONTEXT)?
                // The longest name before the form is four words.
                .within(Scope::Near { words: &LEGAL_FORMS, before: 96, after: 8 })
                .needing(b""),
            rule(Entity::DateTime, &date, 0, check_birth_date, &BIRTH_CONTEXT)?
            // `check_birth_date` looks 160 bytes before a date and 12 after it.
            .within(Scope::Near { words: &BIRTH_SCOPE, before: 12 + 48, after: 160 + 48 }),
        ];
        Ok(Self { rules })
    }

    /// The entity types these rules can find.
    pub fn entities(&self) -> EntitySet {
        self.rules.iter().map(|r| r.entity).collect()
    }
}

/// Record fields whose value is a person's name (`"first_name": "Ana"`,
/// `lastName: Okafor`, `customer_name='Li Wei'`).
const PERSON_FIELDS: &str = r"(?:first|last|given|family|full|middle|maiden|sur|fore|customer|contact|patient|employee|account[_\-]?holder|card[_\-]?holder|recipient|sender)[_\-]?name|surname";
/// Record fields whose value is a place.
const PLACE_FIELDS: &str =
    r"city|town|village|country|birth[_\-]?place|place[_\-]?of[_\-]?birth|home[_\-]?town";
/// Record fields whose value is an organisation.
const ORG_FIELDS: &str =
    r"company(?:[_\-]?name)?|employer(?:[_\-]?name)?|organi[sz]ation(?:[_\-]?name)?";
/// A field's key is at most 24 bytes before its value, which ends within 80.
const FIELD_SCOPE: Scope = Scope::Near { words: &FIELD_KEY_PARTS, before: 24, after: 80 };

/// A record field `key: value`, `key = value` or `"key": "value"` with one
/// of `keys` (any case, as a whole key), its value in group 1: quoted, or
/// unquoted to the end of the line or the next separator.
fn field_pattern(keys: &str) -> String {
    format!(
        r#"(?i:(?:^|[^A-Za-z0-9_])(?:{keys}))["']?[ \t]*[:=][ \t]*("[^"\n]{{1,64}}"|'[^'\n]{{1,64}}'|[^\s"',;:=<>{{}}\[\]()|][^\n"',;:=<>{{}}\[\]()|]{{0,63}})"#
    )
}

/// A company's name (one to four capitalised words, joined by spaces,
/// hyphens and `&`; "and" would join two companies) before its legal form,
/// in the forms of the countries we serve.
fn company_pattern() -> String {
    let word = "[A-ZÀ-ÖØ-ÞĀ-ž][A-Za-zÀ-ÖØ-öø-ÿĀ-ž0-9'’.\\-]*";
    let join = "(?:[ ]?&[ ]?|[ ]|-)";
    let forms = "(?:GmbH|gGmbH|AG|KGaA|KG|OHG|GbR|UG|SE|Inc|Incorporated|LLC|Ltd|Limited|PLC|plc|LLP|Corp|Corporation|SAS|SARL|SpA|Srl|SRL|BV|NV|Oyj?|AB|ASA|ApS|Kft|Zrt|Pty[ ]Ltd)\\b\\.?|e\\.[ ]?V\\.|S\\.A\\.U\\.?|S\\.A\\.(?:S\\.)?|S\\.p\\.A\\.|S\\.r\\.l\\.|S\\.L\\.N\\.E\\.?|S\\.L\\.(?:U\\.)?|B\\.V\\.|N\\.V\\.|L\\.L\\.C\\.|A/S|Sp\\.[ ]z[ ]o\\.o\\.|s\\.r\\.o\\.|S\\.[ ]?Coop\\.?";
    // The regex takes the first form that fits, so a form that starts like
    // another comes first ("S.L.N.E." before "S.L.").
    // Family firms: "Bailey and Sons", "Pignatti e figli", "Dupont et Fils".
    let family = "[ ](?:and|&|und|e|y|et)[ ](?:Sons|Söhne|[Ff]igli|[Hh]ijos|[Ff]ils|[Aa]sociados|Partners?|Co\\.)";
    format!(
        "\\b{word}(?:{join}{word}){{0,3}}(?:,?[ ](?:{forms})(?:[ ]&[ ]Co\\.[ ]KG(?:aA)?)?|{family}(?:,?[ ](?:{forms}))?)"
    )
}

/// Street addresses as the countries we serve write them: a house number
/// before the street where English and French put it ("221B Baker Street",
/// "12, rue de Rivoli"), after it where German, Dutch, Spanish, Italian and
/// Portuguese do ("Hauptstraße 5", "Calle Mayor 3", "Via Roma 10"), and
/// post-office boxes. English street names need a name word and a street
/// word (USPS and Royal Mail suffixes), so "Top 10 Lake Hikes" is not one.
fn street_address_pattern() -> String {
    let sp = "[ \\t]{1,3}";
    // Latin-1 and Latin Extended-A capitals ("Łódź", "Şişli", "Čapek").
    let cap = "[A-ZÀ-ÖØ-ÞĀ-ž]";
    let name = format!("{cap}[A-Za-zÀ-ÖØ-öø-ÿĀ-ž'’.\\-]*");
    // USPS street suffixes and their abbreviations, less the ones that are
    // also everyday nouns after a number ("Club", "Center", "Union").
    let en_suffix = "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Ways|Terrace|Ter|Close|Crescent|Cres|Squares?|Sq|Parkway|Pkwy|Highway|Hwy|Circles?|Cir|Trail|Trl|Row|Grove|Mews|Gardens?|Gdns|Walks?|Loop|Alley|Aly|Plaza|Plz|Pike|Turnpike|Tpke|Expressway|Expy|Freeway|Fwy|Causeway|Ridges?|Crossing|Xing|Coves?|Hills?|Heights|Hts|Bypass|Commons?|Estates?|Glens?|Harbors?|Hollow|Junctions?|Landing|Manor|Meadows?|Oval|Parade|Esplanade|Embankment|Rise|Vale|Wynd|Quay|Wharf|Broadway|Summit|Trace|Vista|Stations?|Bridge|Springs?|Plains?|Extensions?|Burgs?|Skyway|Points?|Falls|Ferry|Fields?|Forest|Forks?|Fort|Gateway|Haven|Isle|Knolls?|Lakes?|Mills?|Motorway|Mount|Mountains?|Orchard|Overpass|Pines?|Prairie|Ranch|Ridge|Shores?|Spur|Stream|Throughway|Track|Tunnel|Underpass|Valleys?|Viaduct|Views?|Villages?|Ville|Creek|Crest|Corners?|Cliffs?|Canyon|Brooks?|Bluffs?|Bend|Beach|Bayou|Arcade|Dale|Flats?|Groves|Branch|Camp|Cape|Crossroads?|Curve|Dam|Divide|Drives|Fords?|Forges?|Greens?|Inlets?|Islands?|Keys|Locks|Lodge|Manors|Mission|Neck|Parks?|Parkways|Passage|Path|Ports?|Radial|Ramp|Rapids?|Roads|Route|Shoals?|Spurs|Stravenue|Streets|Trafficway|Wells|Courts|Lights|Centers|Unions";
    // Street words of Indian addresses ("Chahal Marg", "Samra Ganj").
    let in_suffix = "Nagar|Ganj|Marg|Chowk|Zila|Bazaar|Bazar|Colony|Gali";

    let unit = format!(
        "(?:,?{sp}(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\\.?{sp}?#?[0-9A-Za-z]{{1,5}}\\b)?"
    );
    let direction = format!("(?:{sp}(?:N|S|E|W|NE|NW|SE|SW)\\b)?");
    // "12 Baker Street", or a flat first: "Flat 3, 12 Baker Street",
    // "Flat 88, Shaw Gardens" (British); "H.No. 33, Chahal Marg", "08/19,
    // Yogi Chowk" (Indian).
    let english = format!(
        "(?:\\b(?:Flat|Studio|Apartment|Apt|Unit|Suite)\\.?{sp}\\d{{1,5}}[A-Za-z]?,?{sp}(?:\\d{{1,5}}[A-Za-z]?{sp})?|(?:\\bH\\.?[ \\t]?No\\.?[ \\t]?|\\b)\\d{{1,5}}[A-Za-z]?(?:[-/]\\d{{1,5}})?,?{sp})(?:{name}{sp}){{1,3}}(?:{en_suffix}|{in_suffix})\\b\\.?{direction}{unit}"
    );
    let fr_particle = "(?:(?:de la|de l['’]|de|du|des|la|le|l['’]|d['’]|aux?)[ \\t]?)";
    let french = format!(
        "\\b\\d{{1,4}}(?:{sp}?(?:bis|ter))?,?{sp}(?i:rue|avenue|av\\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours|passage){sp}{fr_particle}?{name}(?:{sp}{fr_particle}?{name}){{0,3}}"
    );
    let joined = "straße|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|straat|laan|gracht|plein|kade|singel|dijk|gatan|vägen|gata|gränd|stigen|torget|gade|vej|veien";
    let german = format!(
        "\\b{cap}[A-Za-zÄÖÜäöüßÅåØøÆæ\\-]*?(?:{joined}|-(?:Straße|Strasse|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer|Chaussee)){sp}?\\d{{1,4}}(?:{sp}?[a-z]\\b)?|\\b{cap}[a-zäöüß\\-]+{sp}(?:Straße|Strasse|Str\\.|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer|Chaussee){sp}\\d{{1,4}}[a-z]?\\b"
    );
    let latin_particle = "(?:(?:de la|de los|de las|del|de|della|dello|delle|dei|degli|di|da|do|dos|das)[ \\t]{1,2})";
    let latin = format!(
        "\\b(?:Calle|C/|C\\.|Avenida|Avda\\.?|Paseo|Plaza|Camino|Carrer|Carretera|Ronda|Travesía|Callejón|Pasaje|Glorieta|Via|Viale|Piazza|Piazzale|Corso|Vicolo|Largo|Strada|Contrada|Borgo|Lungomare|Salita|Traversa|Galleria|Rua|Travessa|Praça|Alameda|Vial|Vía|Rambla|Urbanización|Cañada|Acceso|Cuesta|Pasadizo|Andador|Calzada|Cerrada|Circuito|Privada|Prolongación|Retorno|Periférico|Rotonda|Incrocio|Stretto|Canale|Estrada|Rodovia|Ladeira|Viela|Vereda|Passarela|Quadra|Setor|Loteamento|Condomínio|(?i:ul\\.|ulica|aleja|plac|os\\.|osiedle)){sp}{latin_particle}?{name}(?:{sp}{latin_particle}?{name}){{0,3}},?{sp}(?:(?:n\\.?[º°o]?|nº|no\\.?){sp}?)?\\d{{1,4}}[A-Za-z]?\\b{unit}"
    );
    // US military mail: "PSC 8197, Box 8361, APO AA 25688", "USNS Kim,
    // FPO AE 09470", "Unit 4025 Box 1734, DPO AP 96522".
    let military = format!(
        "(?:\\b(?:PSC|Unit|CMR)[ \\t]\\d{{1,5}},?[ \\t]Box[ \\t]\\d{{1,5}}|\\bUSN?S[ \\t]{name}),?{sp}[ADF]PO[ \\t]A[AEP][ \\t]\\d{{5}}\\b"
    );
    let po_box = "\\b(?i:p\\.?[ \\t]?o\\.?[ \\t]?box|postfach|apartado(?: de correos)?|casella postale|boîte postale|bp)[ \\t]{1,3}\\d{1,6}\\b";
    // The locality after it: an optional postcode before the town (Europe),
    // the town, a state or region, a postcode after them (US, UK, Australia).
    let postcode = format!(
        "\\d{{5}}(?:-\\d{{3,4}})?|\\d{{6}}|\\d{{4}}|[A-Z]{{1,2}}\\d[A-Z0-9]?{sp}\\d[A-Z]{{2}}"
    );
    // Before the town: "10115 Berlin", "99-274 Dębica" (Poland), "749 01
    // Lund" (Sweden), "2490 TZ Utrecht" (Netherlands).
    let postcode_first = "(?:\\d{4,5}|\\d{2}-\\d{3}|\\d{3} \\d{2}|\\d{4}[ \\t]?[A-Z]{2}),?";
    // Town names without full stops, so the match ends with the sentence,
    // and with a lower-case second letter, so a postcode ("NW1 6XE") or a
    // state ("NSW") is not taken for one.
    // A hyphen joins words ("Aix-en-Provence"), not a postcode
    // ("Bhagalpur-450306").
    let town = "[A-ZÀ-ÖØ-ÞĀ-ž][a-zß-öø-ÿĀ-ž'’][A-Za-zÀ-ÖØ-öø-ÿĀ-ž'’]*(?:-[A-Za-zÀ-ÖØ-öø-ÿĀ-ž'’]+)*";
    let locality = format!(
        "(?:[ \\t]?,?{sp}(?:{postcode_first}{sp})?{town}(?:{sp}(?:(?:an der|am|im|bei|sur|sous|lès|en|de|del|di){sp})?{town}){{0,2}}(?:,?{sp}(?:[A-Z]{{2,3}}\\b|{town}))?(?:(?:,?{sp}|-)(?:{postcode})\\b)?)?"
    );
    format!("(?:{english}|{french}|{german}|{latin}|{military}|{po_box}){locality}")
}

fn rule(
    entity: Entity,
    pattern: &str,
    group: usize,
    check: Check,
    context: &'static ContextWords,
) -> Result<Rule, regex::Error> {
    // ASCII `\b` and `\d` keep the regex on its DFA paths for any input.
    let pattern = pattern.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]");
    let regex = regex::RegexBuilder::new(&pattern).size_limit(32 << 20).build()?;
    let digits = match entity {
        Entity::CreditCard => 12..=19,
        Entity::UsSsn => 9..=9,
        Entity::PhoneNumber => 7..=15,
        _ => 0..=0,
    };
    let split = *digits.start() > 0;
    let scope = match entity {
        _ if split => Scope::number_runs(*digits.start()),
        Entity::Crypto => Scope::Tokens(11, 91),
        _ => Scope::Everywhere,
    };
    let needs: &[u8] = match entity {
        Entity::EmailAddress => b"@",
        // IPv6 may be all letters ("dead:beef::cafe").
        Entity::IpAddress => b"0123456789:",
        Entity::IbanCode
        | Entity::CreditCard
        | Entity::UsSsn
        | Entity::PhoneNumber
        | Entity::Crypto
        | Entity::Location
        | Entity::DateTime => DIGITS,
        _ => b"",
    };
    Ok(Rule { entity, regex, group, check, context, split, digits, needs, scope })
}

impl Rule {
    /// Runs the regex only in these regions of a text (see [`Scope`]).
    fn within(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Runs the regex only on texts that hold one of these bytes (none: on
    /// every text).
    fn needing(mut self, needs: &'static [u8]) -> Self {
        self.needs = needs;
        self
    }
}

impl Redactor for Patterns {
    fn find(
        &self,
        text: &str,
        wanted: EntitySet,
        out: &mut Vec<Finding>,
    ) -> Result<(), RedactError> {
        let b = text.as_bytes();
        let has_digit = next_digit(b, 0) < b.len();
        let present = |c: u8| match c {
            b'0'..=b'9' => has_digit,
            _ => memchr::memchr(c, b).is_some(),
        };
        let runs = |r: &&Rule| {
            wanted.contains(r.entity) && (r.needs.is_empty() || r.needs.iter().any(|&c| present(c)))
        };
        let mut regions = Regions::new(text);
        let mut covered = Covered::default();
        for rule in self.rules.iter().filter(runs) {
            let mut sure = Vec::new();
            let mut push = |hits: &mut dyn Iterator<Item = Hit>| {
                for hit in hits {
                    let mut score = hit.score;
                    if score < 1.0 && has_context(text, hit.start, hit.end, rule.context) {
                        score = (score + CONTEXT_BOOST).min(1.0);
                    }
                    if score >= Covered::SURE {
                        sure.push((hit.start, hit.end));
                    }
                    out.push(Finding::new(rule.entity, hit.start, hit.end, score, Source::Pattern));
                }
            };
            for (from, to) in regions.of(rule.scope) {
                // The regex sees the text up to the region's end, and what
                // lies before its start (for `\b`).
                let hay = &text[..to];
                if rule.split && covered.holds_every_match(hay, from) {
                    continue;
                }
                let mut pos = from;
                while pos < to {
                    // A number-run candidate needs this many digits, and a
                    // match cannot reach past the region's end.
                    if rule.split
                        && pos > from
                        && text.as_bytes()[pos..to].iter().filter(|b| b.is_ascii_digit()).count()
                            < *rule.digits.start()
                    {
                        break;
                    }
                    let (start, end, next) = if rule.group == 0 {
                        let Some(m) = rule.regex.find_at(hay, pos) else { break };
                        (m.start(), m.end(), m.end())
                    } else {
                        let Some(caps) = rule.regex.captures_at(hay, pos) else { break };
                        let whole = caps.get(0).map_or((pos, to), |m| (m.start(), m.end()));
                        match caps.get(rule.group) {
                            Some(m) => (m.start(), m.end(), whole.1),
                            None => {
                                pos = whole.1.max(pos + 1);
                                continue;
                            }
                        }
                    };
                    if !rule.split {
                        push(&mut (rule.check)(text, start, end).into_iter());
                        pos = if next > pos { next } else { ceil_boundary(text, pos + 1) };
                        continue;
                    }
                    // Number runs: a failed candidate is retried from its
                    // next group, so a value glued to another is still found.
                    let run = &text[start..end];
                    if run.bytes().filter(u8::is_ascii_digit).count() < *rule.digits.start()
                        || covered.contains(start, end)
                    {
                        pos = end;
                        continue;
                    }
                    if let Some(hit) = (rule.check)(text, start, end) {
                        pos = hit.end;
                        push(&mut std::iter::once(hit));
                        continue;
                    }
                    let hits = split_hits(text, start, end, &rule.digits, &covered, rule.check);
                    pos = match hits.last() {
                        Some(last) => last.end,
                        None => run.find([' ', '-', '.']).map_or(end, |i| start + i + 1),
                    };
                    push(&mut hits.into_iter());
                }
            }
            covered.add(sure);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
