//! Random identifiers: API key secrets, key ids, request ids.

use rand::Rng;
use rand::distr::Alphanumeric;

/// `len` random base62 characters from the OS-seeded CSPRNG.
pub fn base62(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A fresh request id, `req_` + 24 base62 characters.
pub fn request_id() -> String {
    format!("req_{}", base62(24))
}

/// Whether a client-sent `X-Request-Id` is safe to echo and store: 1 to 128
/// visible ASCII characters.
pub fn is_acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_has_the_length_and_alphabet() {
        let s = base62(40);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(s, base62(40));
    }

    #[test]
    fn request_ids_from_clients_are_checked() {
        assert!(is_acceptable_request_id("abc-123"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("has space"));
        assert!(!is_acceptable_request_id(&"x".repeat(129)));
    }
}
