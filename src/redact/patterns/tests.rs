//! What each rule finds and, as important, what it leaves alone.

use super::*;

fn found(text: &str) -> Vec<(Entity, String)> {
    let p = Patterns::new().unwrap();
    let mut out = Vec::new();
    p.find(text, EntitySet::all(), &mut out).unwrap();
    out.into_iter()
        .filter(|f| f.score >= 0.5)
        .map(|f| (f.entity, text[f.start..f.end].to_owned()))
        .collect()
}

fn finds(text: &str, entity: Entity, value: &str) {
    let got = found(text);
    assert!(
        got.iter().any(|(e, v)| *e == entity && v == value),
        "{entity} {value:?} not in {got:?} for {text:?}"
    );
}

fn nothing(text: &str) {
    let got = found(text);
    assert!(got.is_empty(), "{text:?} gave {got:?}");
}

#[test]
fn rules_scoped_near_their_words_find_values_at_the_edges() {
    finds("https://intranet.example.org/u/42", Entity::Url, "https://intranet.example.org/u/42");
    finds("see WWW.EXAMPLE.ORG/docs.", Entity::Url, "WWW.EXAMPLE.ORG/docs");
    let token = "eyZ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9abc";
    finds(&format!("Authorization: BEARER {token}"), Entity::Secret, token);
    finds("the Password   is   hunter2-x", Entity::Secret, "hunter2-x");
    finds("my pin was 4821", Entity::Secret, "4821");
    nothing("spinning the opinion piece, was it?");
}

#[test]
fn record_fields_hold_names_and_places() {
    let json = r#"{"first_name": "Oluwaseun", "lastName": "O'Neill", "city": "Porto Alegre"}"#;
    finds(json, Entity::Person, "Oluwaseun");
    finds(json, Entity::Person, "O'Neill");
    finds(json, Entity::Location, "Porto Alegre");
    finds("company_name=Acme Widgets Ltd\n", Entity::Organization, "Acme Widgets Ltd");
    finds("employer: Dangote Group", Entity::Organization, "Dangote Group");
    // Types, placeholders, identifiers and labels are not values.
    nothing("first_name: str\ncity: Optional[str]\nlast_name = user.last_name");
    nothing(r#""city": "string", "company": "<company>", "customer_name": "Customer 42""#);
    nothing(r#""filename": "report.pdf", "hostname": "db.internal", "state": "pending""#);
}

#[test]
fn cards_need_luhn_and_a_brand() {
    finds("card 4111 1111 1111 1111 exp 12/27", Entity::CreditCard, "4111 1111 1111 1111");
    finds("amex 3782-822463-10005", Entity::CreditCard, "3782-822463-10005");
    finds("pay with 5555555555554444 today", Entity::CreditCard, "5555555555554444");
    // A label on the line above is not this value's label.
    finds(
        "Phone: +1 415 555 0134\nCard: 4539 1488 0343 6467",
        Entity::CreditCard,
        "4539 1488 0343 6467",
    );
    finds("Order #1182, card 4539 1488 0343 6467", Entity::CreditCard, "4539 1488 0343 6467");
    finds("card 45391488 0343 6467 exp", Entity::CreditCard, "45391488 0343 6467");
    // JCB's 15- and 16-digit ranges; Maestro's 12 digits only in context.
    for (text, card) in [
        ("cc: 213138868958373", "213138868958373"),
        ("Pay with 3503755807230466 please.", "3503755807230466"),
        ("Maestro card 572128165774", "572128165774"),
        ("pay with 5018 6737 9940 now", "5018 6737 9940"),
    ] {
        finds(text, Entity::CreditCard, card);
    }
    nothing("order 572128165774 shipped");
    nothing("card 4111 1111 1111 1112");
    nothing("uuid 9b2e7f9c-1c11-4a4e-8f0e-7d5d3a0c9f11");
}

#[test]
fn ssn_rules_and_context() {
    finds("SSN: 123-45-6788", Entity::UsSsn, "123-45-6788");
    finds("social security number 536 22 1234", Entity::UsSsn, "536 22 1234");
    nothing("ssn 000-12-3456 and 666-12-3456");
    nothing("order 536221234 shipped");
}

#[test]
fn ips_are_parsed_not_versions() {
    finds("server at 192.168.1.20 is down", Entity::IpAddress, "192.168.1.20");
    finds("ping 2001:db8::8a2e:370:7334 now", Entity::IpAddress, "2001:db8::8a2e:370:7334");
    nothing("upgrade to version 1.2.3.4 soon");
    nothing("release 10.0.19041.1266 and 999.1.1.1");
    nothing("at 12:30:45 the call ended");
    nothing("use std::fs::File and Add::add");
}

#[test]
fn iban_needs_mod97() {
    finds(
        "IBAN DE89 3704 0044 0532 0130 00 THANKS",
        Entity::IbanCode,
        "DE89 3704 0044 0532 0130 00",
    );
    finds("GB82WEST12345698765432", Entity::IbanCode, "GB82WEST12345698765432");
    nothing("GB82WEST12345698765431");
}

#[test]
fn phones_in_many_formats() {
    finds("call +44 20 7946 0958 now", Entity::PhoneNumber, "+44 20 7946 0958");
    finds("Phone: (415) 555-2671", Entity::PhoneNumber, "(415) 555-2671");
    finds("tel. 030 12345678", Entity::PhoneNumber, "030 12345678");
    finds("+33 6 12 34 56 78", Entity::PhoneNumber, "+33 6 12 34 56 78");
    for (text, phone) in [
        // An extension is part of the value, glued on or spelled out.
        ("Reach her on 962.952.7601x89555 after 5pm", "962.952.7601x89555"),
        ("phone: +1-437-586-5797x543", "+1-437-586-5797x543"),
        ("call (415) 555-2671 ext. 23, or", "(415) 555-2671 ext. 23"),
        ("call (415) 555-2671 EXT. 23, or", "(415) 555-2671 EXT. 23"),
        ("call 020 7946 0958 extension 7.", "020 7946 0958 extension 7"),
        // North American grouping is evidence even where the area code is
        // not one the plan assigns (test data and typos write such numbers).
        ("call me at 139-099-6030 today", "139-099-6030"),
        // An area code set off with a slash, as German and Hungarian write it.
        ("Tel. 030/12345678", "030/12345678"),
        ("phone: 30/166 1318", "30/166 1318"),
    ] {
        finds(text, Entity::PhoneNumber, phone);
    }
    nothing("on 12/31/1999, 2024/03/14 or 3/4/2024 add 1/2 cup");
    nothing("box 4521x12 shipped");
    nothing("resolution 1920x1080 at 60 Hz");
    nothing("on 2024-03-15 at 10:30");
    nothing("total 1234567 rows");
}

#[test]
fn emails_urls_crypto() {
    finds("mail jane.doe+x@example.co.uk.", Entity::EmailAddress, "jane.doe+x@example.co.uk");
    finds("to Sean.O'Connor@example.ie,", Entity::EmailAddress, "Sean.O'Connor@example.ie");
    finds("https://x.org/invite?to=ann@example.org", Entity::EmailAddress, "ann@example.org");
    // A URL's user and password are not a mailbox; the password is a secret.
    let url = "postgres://admin:pa55word@db.internal:5432/app";
    finds(url, Entity::Secret, "pa55word");
    assert!(!found(url).iter().any(|(e, _)| *e == Entity::EmailAddress), "{:?}", found(url));
    finds("see https://example.com/a?b=1).", Entity::Url, "https://example.com/a?b=1");
    finds(
        "send to 0x52908400098527886E0F7030069857D2E4169EE7",
        Entity::Crypto,
        "0x52908400098527886E0F7030069857D2E4169EE7",
    );
    finds(
        "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        Entity::Crypto,
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    );
    finds(
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        Entity::Crypto,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    );
    nothing("0x52908400098527886e0F7030069857D2E4169EE7 is a bad checksum");
    nothing("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3");
}

#[test]
fn assigned_secrets_keep_ampersands_outside_query_strings() {
    finds("db:\n  password: Tr0ub4dor&3\n", Entity::Secret, "Tr0ub4dor&3");
    finds("GET /login?password=hunter22&user=bob", Entity::Secret, "hunter22");
}

#[test]
fn secrets_by_family() {
    finds(
        "OPENAI_API_KEY=sk-proj-AbC123dEf456GhI789jKl012",
        Entity::Secret,
        "sk-proj-AbC123dEf456GhI789jKl012",
    );
    finds("id AKIAIOSFODNN7EXAMPLE", Entity::Secret, "AKIAIOSFODNN7EXAMPLE");
    finds(
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        Entity::Secret,
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    );
    for (text, key) in [
        (
            "GROQ gsk_8fJk2LmN4pQr6StUv8WxYz0AbCdEfGhIjKlMnOpQrStUvWxYz12",
            "gsk_8fJk2LmN4pQr6StUv8WxYz0AbCdEfGhIjKlMnOpQrStUvWxYz12",
        ),
        (
            "key xai-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789Ab now",
            "xai-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789Ab",
        ),
        (
            "sendgrid SG.ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmb",
            "SG.ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmb",
        ),
        (
            "shopify 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",
            "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",
        ),
        (
            "docker login -p dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0",
            "dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0",
        ),
        (
            "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw ok",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ),
        (
            "AccountName=a;AccountKey=Eby8vdM02xNOcqFlqUwJPL/K1SZ==;EndpointSuffix=x",
            "Eby8vdM02xNOcqFlqUwJPL/K1SZ==",
        ),
        // Said in words.
        ("my api key is AbCdEf0123456789AbCdEf0123456789.", "AbCdEf0123456789AbCdEf0123456789"),
        ("the token: 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ] {
        finds(text, Entity::Secret, key);
    }
    nothing("the token is invalidated after logout; the secret is understandability");
    finds("db password=hunter2!", Entity::Secret, "hunter2!");
    finds(r#"{"password": "S3cr3t-Pa55"}"#, Entity::Secret, "S3cr3t-Pa55");
    nothing("password: ${DB_PASSWORD}");
    // References to a value are not one; values that start like them are.
    nothing("password=$DB_PASSWORD and pwd: %PGPASS% or secret: %(secret)s, pass $password");
    nothing("$pass = $dbPassword;");
    finds("password: $SAsrCwn99", Entity::Secret, "$SAsrCwn99");
    finds("password: %K8EUyl98s", Entity::Secret, "%K8EUyl98s");
    finds("password: (9^^lHil2X", Entity::Secret, "(9^^lHil2X");
    finds("postgres://app:Zx9-pw@db.internal/app", Entity::Secret, "Zx9-pw");
    nothing("DATABASE_URL=postgres://app@db.internal/app");
    nothing("the sk-learn-library-is-great-for-ml");
}

#[test]
fn values_side_by_side_in_one_number_run() {
    // The card is sure, so its groups are not tried as phone numbers;
    // the phone number glued to it is still found.
    let text = "pay 4111 1111 1111 1111 +44 20 7946 0958 now";
    finds(text, Entity::CreditCard, "4111 1111 1111 1111");
    finds(text, Entity::PhoneNumber, "+44 20 7946 0958");
    let got = found(text);
    assert!(
        !got.iter().any(|(e, v)| *e == Entity::PhoneNumber && v.starts_with("4111")),
        "{got:?}"
    );
    // Covered spans merge, and only whole containment counts.
    let mut covered = Covered::default();
    covered.add(vec![(10, 20), (0, 5), (18, 30)]);
    assert!(covered.contains(0, 5) && covered.contains(12, 29));
    assert!(!covered.contains(4, 12) && !covered.contains(25, 31));
    covered.add(vec![(40, 50), (3, 8), (29, 35)]);
    assert_eq!(covered.0, [(0, 8), (10, 35), (40, 50)]);
}

#[test]
fn street_addresses_as_each_country_writes_them() {
    for (text, value) in [
        ("ship to 221B Baker Street, London NW1 6XE please", "221B Baker Street, London NW1 6XE"),
        (
            "at 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
            "1600 Pennsylvania Avenue NW, Washington, DC 20500",
        ),
        ("for 42 Wallaby Way, Sydney NSW 2000.", "42 Wallaby Way, Sydney NSW 2000"),
        ("moved to 12 Oak Ridge Rd., Apt 4B, Springfield", "12 Oak Ridge Rd., Apt 4B, Springfield"),
        ("Adresse: Hauptstraße 5, 10115 Berlin. Oder", "Hauptstraße 5, 10115 Berlin"),
        ("oder Berliner Straße 12a", "Berliner Straße 12a"),
        ("au 12, rue de Rivoli, 75001 Paris.", "12, rue de Rivoli, 75001 Paris"),
        ("en Calle de Alcalá 45, Madrid. La", "Calle de Alcalá 45, Madrid"),
        ("in Via Roma 10; ufficio", "Via Roma 10"),
        ("para Rua Augusta, 27, Lisboa", "Rua Augusta, 27, Lisboa"),
        ("Keizersgracht 123, Amsterdam", "Keizersgracht 123, Amsterdam"),
        ("write to PO Box 1234, Austin TX.", "PO Box 1234, Austin TX"),
        (
            "Ship it to 019 Paula Flats, Alanland, DC 71249 please",
            "019 Paula Flats, Alanland, DC 71249",
        ),
        ("Address: PSC 8197, Box 8361, APO AA 25688", "PSC 8197, Box 8361, APO AA 25688"),
        ("to USNS Alvarez, FPO AE 09470.", "USNS Alvarez, FPO AE 09470"),
        (
            "Deliver to: Ronda Bruno Puig 31 Apt. 90 , Cuenca, 37376",
            "Ronda Bruno Puig 31 Apt. 90 , Cuenca, 37376",
        ),
        (
            "Address: Jesperstraat 004, 2490TZ, Idsegahuizum",
            "Jesperstraat 004, 2490TZ, Idsegahuizum",
        ),
        (
            "adres: ul. Kusocińskiego 61, 99-274 Ostrowiec Świętokrzyski",
            "ul. Kusocińskiego 61, 99-274 Ostrowiec Świętokrzyski",
        ),
        ("Address: Villagränd 48, 749 01 Lund", "Villagränd 48, 749 01 Lund"),
        (
            "Address: H.No. 33, Chahal Marg, Bhagalpur-450306",
            "H.No. 33, Chahal Marg, Bhagalpur-450306",
        ),
        ("at 08/19, Yogi Chowk, Bidar 631922.", "08/19, Yogi Chowk, Bidar 631922"),
        (
            "an Studio 5, Cheryl Rapid, Lake Eleanor, W77 3BY.",
            "Studio 5, Cheryl Rapid, Lake Eleanor, W77 3BY",
        ),
        ("è Canale Roberta 42, Calceranica Al Lago.", "Canale Roberta 42, Calceranica Al Lago"),
        ("a Cañada de Carmelita Rosa 168, Zaragoza, por", "Cañada de Carmelita Rosa 168, Zaragoza"),
        ("na Estrada Velha 120, Campinas", "Estrada Velha 120, Campinas"),
    ] {
        finds(text, Entity::Location, value);
    }
    // A number before capitalised words is not an address without a
    // name word and a street word, nor after another number.
    for text in [
        "Top 10 Lake Hikes",
        "Chapter 3 Way Forward",
        "we shipped 1.2 Main Street features",
        "Windows 11 Pro",
        "3 Apple Watch bands",
        "see Smith et al. Nature 2019",
        "buy 2 Day Pass tickets",
    ] {
        nothing(text);
    }
}

#[test]
fn dates_only_of_birth() {
    finds("born on 14 March 1987 in", Entity::DateTime, "14 March 1987");
    finds("DOB: 1987-03-14", Entity::DateTime, "1987-03-14");
    nothing("deployed on 2024-03-14 at noon");
    nothing("born on 2024-13-45");
}

#[test]
fn companies_by_their_legal_form() {
    for (text, company) in [
        ("Mit freundlichen Grüßen, Beate Wieloch, Weimer Schmidtke e.V.", "Weimer Schmidtke e.V."),
        ("Grüßen, Vinzenz Köhler, Ortmann Haase AG", "Ortmann Haase AG"),
        ("for the Mayo LLC order", "Mayo LLC"),
        ("signed with Acme Widgets, Inc. yesterday", "Acme Widgets, Inc."),
        ("an Ring Stiftung GmbH & Co. KG", "Ring Stiftung GmbH & Co. KG"),
        ("between us and Bailey and Sons.", "Bailey and Sons"),
        ("lavoro da Pignatti e figli", "Pignatti e figli"),
        ("The Acme Corp board", "Acme Corp"),
        ("Danke, Müller GmbH", "Müller GmbH"),
        ("de Tecnologías Campo & Asociados S.Coop.; mi", "Tecnologías Campo & Asociados S.Coop."),
        (
            "de Farmaceútica Giralt y asociados S.Coop.; mi",
            "Farmaceútica Giralt y asociados S.Coop.",
        ),
        // Forms that start like a shorter one are taken whole.
        ("soy Goyo de Vilanova & Asociados S.L.N.E; mi", "Vilanova & Asociados S.L.N.E"),
        ("con Hermanos Ruiz S.A.U. desde", "Hermanos Ruiz S.A.U."),
        // Two companies joined by "and" are two.
        ("between Campbell LLC and Espinoza Inc was", "Campbell LLC"),
        ("between Campbell LLC and Espinoza Inc was", "Espinoza Inc"),
    ] {
        finds(text, Entity::Organization, company);
    }
    // Words of prose that start like a form, and forms without a name.
    nothing("The Board agreed; Sales inches up; Team absent.");
    nothing("Die AG hat getagt. The GmbH form. Inc. is short for incorporated");
}
