//! Remembers what a slow recognizer (the NER model) found in recent texts.
//! Chat clients send the whole conversation on every turn, and agents the
//! same system prompt and tool descriptions on every call, so most texts of
//! a request were read before; without this, a conversation's model cost
//! grows with the square of its length.
//!
//! Texts are known by a salted SHA-256 digest (the salt is random per
//! process), so the cache holds no text and its keys cannot be matched
//! against guesses from outside the process. It holds findings (types,
//! offsets, scores) for at most `capacity` texts, dropping the oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::entity::{EntitySet, Finding};
use super::{RedactError, Redactor};

type Key = [u8; 32];

/// A recognizer with a memory of recent texts.
pub struct Cached<R> {
    inner: R,
    /// What `inner` can find; it is always asked for all of it, so one
    /// entry serves requests that want fewer types.
    types: EntitySet,
    capacity: usize,
    salt: [u8; 16],
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    findings: HashMap<Key, Vec<Finding>>,
    order: VecDeque<Key>,
}

impl<R: Redactor> Cached<R> {
    /// `capacity` texts at most; 0 remembers nothing.
    pub fn new(inner: R, types: EntitySet, capacity: usize) -> Self {
        Self { inner, types, capacity, salt: rand::random(), seen: Mutex::new(Seen::default()) }
    }

    fn key(&self, text: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        hash.update(text.as_bytes());
        hash.finalize().into()
    }

    fn remember(&self, entries: Vec<(Key, Vec<Finding>)>) {
        let Ok(mut seen) = self.seen.lock() else { return };
        for (key, findings) in entries {
            if seen.findings.insert(key, findings).is_none() {
                seen.order.push_back(key);
            }
            while seen.order.len() > self.capacity {
                if let Some(old) = seen.order.pop_front() {
                    seen.findings.remove(&old);
                }
            }
        }
    }
}

impl<R: Redactor> Redactor for Cached<R> {
    fn find(
        &self,
        text: &str,
        wanted: EntitySet,
        out: &mut Vec<Finding>,
    ) -> Result<(), RedactError> {
        super::find_one(self, text, wanted, out)
    }

    fn find_batch(
        &self,
        texts: &[&str],
        wanted: EntitySet,
    ) -> Result<Vec<Vec<Finding>>, RedactError> {
        if self.capacity == 0 {
            return self.inner.find_batch(texts, wanted);
        }
        let keys: Vec<Key> = texts.iter().map(|t| self.key(t)).collect();
        let mut all: Vec<Option<Vec<Finding>>> = {
            let seen = self.seen.lock().map_err(|_| RedactError::Model("cache poisoned".into()))?;
            keys.iter().map(|k| seen.findings.get(k).cloned()).collect()
        };
        let missed: Vec<usize> = (0..texts.len()).filter(|&i| all[i].is_none()).collect();
        if !missed.is_empty() {
            let batch: Vec<&str> = missed.iter().map(|&i| texts[i]).collect();
            let found = self.inner.find_batch(&batch, self.types)?;
            let mut entries = Vec::with_capacity(missed.len());
            for (&i, findings) in missed.iter().zip(found) {
                entries.push((keys[i], findings.clone()));
                all[i] = Some(findings);
            }
            self.remember(entries);
        }
        Ok(all
            .into_iter()
            .map(|f| {
                let mut f = f.unwrap_or_default();
                f.retain(|f| wanted.contains(f.entity));
                f
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::redact::entity::{Entity, Source};

    /// Finds each capitalised word as a PERSON and counts the texts it reads.
    #[derive(Default)]
    struct Counting {
        texts: AtomicUsize,
    }

    impl Redactor for Counting {
        fn find(
            &self,
            text: &str,
            wanted: EntitySet,
            out: &mut Vec<Finding>,
        ) -> Result<(), RedactError> {
            self.texts.fetch_add(1, Ordering::SeqCst);
            let mut at = 0;
            for word in text.split(' ') {
                let entity =
                    if word.ends_with("ville") { Entity::Location } else { Entity::Person };
                if word.starts_with(char::is_uppercase) && wanted.contains(entity) {
                    out.push(Finding::new(entity, at, at + word.len(), 0.9, Source::Ner));
                }
                at += word.len() + 1;
            }
            Ok(())
        }
    }

    fn spans(found: &[Finding]) -> Vec<(Entity, usize, usize)> {
        found.iter().map(|f| (f.entity, f.start, f.end)).collect()
    }

    #[test]
    fn a_text_read_before_is_answered_from_memory() {
        let cached = Cached::new(Counting::default(), EntitySet::ner(), 8);
        let first =
            cached.find_batch(&["ask Ann in Greenville", "no names"], EntitySet::ner()).unwrap();
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 2);
        // The conversation grows by one message: only that one is read.
        let again = cached
            .find_batch(&["ask Ann in Greenville", "no names", "and Bob"], EntitySet::ner())
            .unwrap();
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 3);
        assert_eq!(spans(&again[0]), spans(&first[0]));
        assert_eq!(spans(&again[0]), [(Entity::Person, 4, 7), (Entity::Location, 11, 21)]);
        assert!(again[1].is_empty());
        assert_eq!(spans(&again[2]), [(Entity::Person, 4, 7)]);
        // A request that wants fewer types gets only those, from memory.
        let people =
            cached.find_batch(&["ask Ann in Greenville"], [Entity::Person].into_iter().collect());
        assert_eq!(spans(&people.unwrap()[0]), [(Entity::Person, 4, 7)]);
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_oldest_texts_are_forgotten_first() {
        let cached = Cached::new(Counting::default(), EntitySet::ner(), 2);
        for text in ["One", "Two", "Three", "Three", "Two"] {
            cached.find_batch(&[text], EntitySet::ner()).unwrap();
        }
        // "One" was dropped when "Three" came; "Two" and "Three" stayed.
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 3);
        cached.find_batch(&["One"], EntitySet::ner()).unwrap();
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 4);
        assert_eq!(cached.seen.lock().unwrap().findings.len(), 2);
    }

    #[test]
    fn capacity_zero_reads_every_time() {
        let cached = Cached::new(Counting::default(), EntitySet::ner(), 0);
        for _ in 0..3 {
            cached.find_batch(&["Ann"], EntitySet::ner()).unwrap();
        }
        assert_eq!(cached.inner.texts.load(Ordering::SeqCst), 3);
    }
}
