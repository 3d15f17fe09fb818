use super::*;
use crate::redact::entity::Source;

#[test]
fn cleaning_trims_lower_case_edges_and_splits_sentences() {
    let t = "je m'appelle Beth Rowley-Kaur, j'habite à Hillchester. Mon ami";
    let span = |s: usize, e: usize| &t[s..e];
    let got: Vec<&str> = clean(t, 0, t.len(), true).into_iter().map(|(s, e)| span(s, e)).collect();
    assert_eq!(got, ["Beth Rowley-Kaur, j'habite à Hillchester", "Mon"]);
    // A full stop after an initial or an abbreviation ends no sentence.
    for name in ["John F. Kennedy", "St. Mary's Hospital", "Dr. Kwame Mensah"] {
        assert_eq!(clean(name, 0, name.len(), true), [(0, name.len())]);
    }
    let got: Vec<&str> =
        clean("see qty here", 4, 7, true).into_iter().map(|(s, e)| &"see qty here"[s..e]).collect();
    assert!(got.is_empty());
    let got: Vec<&str> = clean("call john smith", 5, 15, false)
        .into_iter()
        .map(|(s, e)| &"call john smith"[s..e])
        .collect();
    assert_eq!(got, ["john smith"]);
}

#[test]
fn spans_are_cut_at_words_that_cannot_belong_to_the_name() {
    let cut = |t: &str, entity| -> Vec<String> {
        split_at_inner_words(t, 0, t.len(), entity)
            .into_iter()
            .filter_map(|(s, e)| trim_lower_edges(t, s, e))
            .map(|(s, e)| t[s..e].to_owned())
            .collect()
    };
    let place = "Milano per incontrare quelli di Luxottica";
    assert_eq!(cut(place, Entity::Location), ["Milano", "Luxottica"]);
    // Joining words and one lower-case word of a company name stay.
    for name in ["Bank of America", "Frankfurt am Main", "Farmacia Giralt y asociados S.L."] {
        assert_eq!(cut(name, Entity::Organization), [name]);
    }
    assert_eq!(cut("Hey Siobhan", Entity::Person), ["Siobhan"]);
    assert_eq!(cut("Dear Anna Berg", Entity::Person), ["Anna Berg"]);
    assert_eq!(cut("Orhan Klemm aus Wittenberg", Entity::Person), ["Orhan Klemm", "Wittenberg"]);
    assert_eq!(cut("Charles de Gaulle", Entity::Person), ["Charles de Gaulle"]);
    assert_eq!(cut("Frau Schmidt-Weber", Entity::Person), ["Schmidt-Weber"]);
    assert_eq!(cut("Dr. Kwame Mensah", Entity::Person), ["Kwame Mensah"]);
    assert_eq!(cut("Dipl.-Ing. Ercan Junken B.Eng.", Entity::Person), ["Ercan Junken"]);
    assert_eq!(cut("J.R.R. Tolkien", Entity::Person), ["J.R.R. Tolkien"]);
}

#[test]
fn a_full_stop_stays_only_after_an_abbreviation() {
    let end = |t: &'static str| &t[..trim_end_punctuation(t, 0, t.len())];
    assert_eq!(end("Luxottica."), "Luxottica");
    assert_eq!(end("Sanne,"), "Sanne");
    assert_eq!(end("Miles Dyson.)"), "Miles Dyson");
    assert_eq!(end("Acme Inc."), "Acme Inc.");
    assert_eq!(end("Mary E."), "Mary E.");
    assert_eq!(end("Banco Sol S.A."), "Banco Sol S.A.");
    assert_eq!(end("..."), "");
}

#[test]
fn numbers_and_ids_are_not_names() {
    assert!(!plausible(Entity::Location, "244ms"));
    assert!(!plausible(Entity::Location, "e019f02980ce"));
    assert!(!plausible(Entity::Organization, "37"));
    assert!(!plausible(Entity::Person, "Agent 47"));
    assert!(plausible(Entity::Location, "221B Baker Street"));
    assert!(plausible(Entity::Person, "Zoë O'Neil"));
    assert!(plausible(Entity::Location, "Bigot-la-Forêt"));
    assert!(!plausible(Entity::Organization, "IBAN"));
    assert!(!plausible(Entity::Organization, "Nummer"));
    assert!(!plausible(Entity::Person, "Meine Nummer"));
    assert!(plausible(Entity::Person, "Do Son"));
    let ua = "ua=Mozilla/5.0 (X11)";
    assert!(in_product_token(ua, 3, 10));
    assert!(!in_product_token("Mozilla Foundation", 0, 7));
}

#[test]
fn widening_takes_whole_words() {
    let t = "Hello Johnson, bye";
    assert_eq!(widen(t, 8, 10), (6, 13));
    assert_eq!(widen(t, 6, 14), (6, 13));
}

#[test]
fn a_degree_after_a_name_makes_it_a_persons_and_alone_names_nobody() {
    for word in ["B.A.", "PhD", "M.D.,", "M.Sc.", "Ph.D.", "MBA"] {
        assert!(credential(word), "{word}");
    }
    // Legal forms, states and abbreviations are not degrees.
    for word in ["S.Com.", "S.A.", "MA", "St.", "GmbH", "Md."] {
        assert!(!credential(word), "{word}");
    }
    let found = |t: &str, entity| -> Vec<(Entity, String)> {
        names_in(t, 0, t.len(), entity, true, &[])
            .into_iter()
            .map(|(e, s, end)| (e, t[s..end].to_owned()))
            .collect::<Vec<_>>()
    };
    let t = "Anatolij Hering B.A.";
    assert_eq!(found(t, Entity::Organization), [(Entity::Person, "Anatolij Hering".into())]);
    assert_eq!(found("PhD", Entity::Organization), []);
    let t = "Desarrollo Globales S.Com.";
    assert_eq!(found(t, Entity::Organization), [(Entity::Organization, t.into())]);
}

#[test]
fn a_first_name_and_the_word_after_it_are_one_name() {
    let joined = |t: &str, a: (usize, usize), b: (usize, usize), second| -> Vec<String> {
        let mut found = vec![
            Finding::new(Entity::Person, a.0, a.1, 0.9, Source::Ner),
            Finding::new(second, b.0, b.1, 0.7, Source::Ner),
        ];
        join_split_name(t, &mut found);
        assert!(found.iter().all(|f| f.entity == Entity::Person || f.entity == second));
        found.iter().map(|f| t[f.start..f.end].to_owned()).collect()
    };
    let t = "sono Fausto Avogadro.";
    assert_eq!(joined(t, (5, 11), (12, 20), Entity::Organization), ["Fausto Avogadro"]);
    // A family name before a word that names a firm is the firm's.
    let firm = "Collins Holdings";
    let mut found = vec![
        Finding::new(Entity::Person, 0, 7, 0.9, Source::Ner),
        Finding::new(Entity::Organization, 8, 16, 0.7, Source::Ner),
    ];
    join_split_name(firm, &mut found);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].entity, found[0].start, found[0].end), (Entity::Organization, 0, 16));
    assert_eq!(joined(t, (5, 11), (12, 20), Entity::Person), ["Fausto Avogadro"]);
    // Not after a whole name, not across a comma, not a word in lower case.
    let t = "Maria Lopez Google";
    assert_eq!(joined(t, (0, 11), (12, 18), Entity::Organization), ["Maria Lopez", "Google"]);
    let t = "Anna, Berlin";
    assert_eq!(joined(t, (0, 4), (6, 12), Entity::Location), ["Anna", "Berlin"]);
    let t = "Anna berlin";
    assert_eq!(joined(t, (0, 4), (5, 11), Entity::Location), ["Anna", "berlin"]);
}

#[test]
fn spanish_imperatives_with_a_pronoun_are_no_name() {
    for word in
        ["Envíelo", "Llámame", "Confírmeselo", "Mándenos", "Revíselos", "Escríbame", "Dígalo"]
    {
        assert!(imperative_with_clitic(word), "{word}");
        assert!(!plausible(Entity::Location, word), "{word}");
    }
    // Names of a like shape, and words without the stress mark.
    for word in ["Rómulo", "Ángela", "Ítalo", "Críspulo", "Ángelo", "Marcelo", "Envielo"] {
        assert!(!imperative_with_clitic(word), "{word}");
    }
    assert!(plausible(Entity::Person, "Rómulo"));
}

#[test]
fn the_capitalised_word_after_a_name_and_aus_is_an_origin() {
    let origins_in = |t: &str, name: &str| -> Vec<String> {
        let at = t.find(name).unwrap_or(0);
        let found = [Finding::new(Entity::Person, at, at + name.len(), 0.9, Source::Ner)];
        origins(t, &found).into_iter().map(|(s, e)| t[s..e].to_owned()).collect()
    };
    assert_eq!(origins_in("Ich bin Janus Wirth aus Hettstedt.", "Janus Wirth"), ["Hettstedt"]);
    assert_eq!(origins_in("Anna uit Bergen-op-Zoom zegt hoi", "Anna"), ["Bergen-op-Zoom"]);
    assert_eq!(origins_in("Anna aus Ulm", "Anna"), ["Ulm"]);
    // Lower case, acronyms, short words, other prepositions: no origin.
    for t in ["Anna aus dem Büro", "Anna aus HR", "Anna aus Xi", "Anna from Leeds"] {
        assert_eq!(origins_in(t, "Anna"), Vec::<String>::new(), "{t}");
    }
}

#[test]
fn a_word_that_names_a_firm_makes_the_name_a_company() {
    let firm = |t: &str, entity, (a, b): (usize, usize)| {
        let mut found = vec![Finding::new(entity, a, b, 0.9, Source::Ner)];
        firm_names(t, &mut found);
        (found[0].entity, t[found[0].start..found[0].end].to_owned())
    };
    let org = Entity::Organization;
    assert_eq!(firm("Jones Holdings", Entity::Person, (0, 14)), (org, "Jones Holdings".into()));
    assert_eq!(firm("de Blake Holdings;", org, (3, 8)), (org, "Blake Holdings".into()));
    assert_eq!(firm("Clay Group", Entity::Person, (0, 4)), (org, "Clay Group".into()));
    // Not a word in lower case, not a place, not a name that is only the
    // firm word, not past the next name.
    let person = Entity::Person;
    assert_eq!(firm("Anna group", person, (0, 4)), (person, "Anna".into()));
    let place = Entity::Location;
    assert_eq!(firm("Berlin Capital", place, (0, 6)), (place, "Berlin".into()));
    assert_eq!(firm("Capital", person, (0, 7)), (person, "Capital".into()));
    let t = "Maria Bank";
    let mut found = vec![
        Finding::new(person, 0, 5, 0.9, Source::Ner),
        Finding::new(org, 6, 10, 0.9, Source::Ner),
    ];
    firm_names(t, &mut found);
    assert_eq!((found[0].entity, found[0].end), (person, 5));
    // Names that overlap are left as they are.
    let t = "Katja Atzler B.A. Group";
    let mut found = vec![
        Finding::new(person, 0, 17, 0.9, Source::Ner),
        Finding::new(org, 13, 17, 0.9, Source::Ner),
    ];
    firm_names(t, &mut found);
    assert_eq!((found[0].entity, found[0].end), (person, 17));
}
