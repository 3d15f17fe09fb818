//! Entity types (Presidio's names, DESIGN §6) and findings.

use std::fmt;

/// A kind of personal data or secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Person,
    Location,
    Organization,
    EmailAddress,
    PhoneNumber,
    CreditCard,
    UsSsn,
    IbanCode,
    IpAddress,
    Url,
    DateTime,
    Crypto,
    Secret,
    /// A request's `deny` value that no recognizer types.
    Custom,
}

impl Entity {
    /// Every type, in the order of DESIGN §6.
    pub const ALL: [Entity; 14] = [
        Entity::Person,
        Entity::Location,
        Entity::Organization,
        Entity::EmailAddress,
        Entity::PhoneNumber,
        Entity::CreditCard,
        Entity::UsSsn,
        Entity::IbanCode,
        Entity::IpAddress,
        Entity::Url,
        Entity::DateTime,
        Entity::Crypto,
        Entity::Secret,
        Entity::Custom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Entity::Person => "PERSON",
            Entity::Location => "LOCATION",
            Entity::Organization => "ORGANIZATION",
            Entity::EmailAddress => "EMAIL_ADDRESS",
            Entity::PhoneNumber => "PHONE_NUMBER",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::UsSsn => "US_SSN",
            Entity::IbanCode => "IBAN_CODE",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::Url => "URL",
            Entity::DateTime => "DATE_TIME",
            Entity::Crypto => "CRYPTO",
            Entity::Secret => "SECRET",
            Entity::Custom => "CUSTOM",
        }
    }

    /// Parses a name, case-insensitively; `-` and ` ` count as `_`.
    pub fn parse(name: &str) -> Option<Entity> {
        let wanted = name.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        Entity::ALL.into_iter().find(|e| e.name() == wanted)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of entity types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntitySet(u16);

impl EntitySet {
    pub fn all() -> Self {
        Entity::ALL.into_iter().collect()
    }

    pub fn empty() -> Self {
        Self(0)
    }

    /// The types the NER model finds.
    pub fn ner() -> Self {
        [Entity::Person, Entity::Location, Entity::Organization].into_iter().collect()
    }

    pub fn contains(self, entity: Entity) -> bool {
        self.0 & entity.bit() != 0
    }

    pub fn insert(&mut self, entity: Entity) {
        self.0 |= entity.bit();
    }

    pub fn intersects(self, other: EntitySet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Entity> {
        Entity::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

impl FromIterator<Entity> for EntitySet {
    fn from_iter<I: IntoIterator<Item = Entity>>(iter: I) -> Self {
        let mut set = EntitySet::empty();
        for e in iter {
            set.insert(e);
        }
        set
    }
}

/// Which stage found a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Pattern,
    Dictionary,
    Ner,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Pattern => "pattern",
            Source::Dictionary => "dictionary",
            Source::Ner => "ner",
        }
    }
}

/// One span of personal data; `start..end` are byte offsets into the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub entity: Entity,
    pub start: usize,
    pub end: usize,
    pub score: f32,
    pub source: Source,
}

impl Finding {
    pub fn new(entity: Entity, start: usize, end: usize, score: f32, source: Source) -> Self {
        Self { entity, start, end, score, source }
    }

    pub fn overlaps(&self, other: &Finding) -> bool {
        self.start < other.end && other.start < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_parse_loosely() {
        for e in Entity::ALL {
            assert_eq!(Entity::parse(e.name()), Some(e));
        }
        assert_eq!(Entity::parse("email-address"), Some(Entity::EmailAddress));
        assert_eq!(Entity::parse("us ssn"), Some(Entity::UsSsn));
        assert_eq!(Entity::parse("NAME"), None);
    }

    #[test]
    fn sets_hold_what_was_inserted() {
        let set: EntitySet = [Entity::Person, Entity::Secret].into_iter().collect();
        assert!(set.contains(Entity::Person) && set.contains(Entity::Secret));
        assert!(!set.contains(Entity::Url));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(EntitySet::all().iter().count(), Entity::ALL.len());
    }
}
