//! Checksums that tell a real identifier from a look-alike: Luhn (cards),
//! IBAN mod 97 with per-country lengths, US SSN number rules, EIP-55
//! (Ethereum), Base58Check (Bitcoin legacy) and Bech32/Bech32m (SegWit).
//! Pure functions for the pattern recognizers; no allocation beyond small
//! buffers.

use sha2::{Digest, Sha256};
use sha3::Keccak256;

/// Luhn over the digits of `text` (spaces and dashes ignored); 12 to 19
/// digits, as card numbers have.
pub fn luhn_valid(text: &str) -> bool {
    let (mut count, mut sum) = (0_usize, 0_u32);
    for b in text.bytes().rev().filter(|b| !matches!(b, b' ' | b'-')) {
        if !b.is_ascii_digit() {
            return false;
        }
        let d = u32::from(b - b'0');
        sum += if count % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d };
        count += 1;
    }
    (12..=19).contains(&count) && sum.is_multiple_of(10)
}

/// IBAN length by country, sorted by country.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// IBAN length by country (ISO 13616 registry).
pub fn iban_length(country: &str) -> Option<usize> {
    let i = IBAN_LENGTHS.binary_search_by(|(c, _)| c.as_bytes().cmp(country.as_bytes())).ok()?;
    Some(IBAN_LENGTHS[i].1)
}

/// IBAN: known country, its length, then mod 97 == 1 over the rearranged
/// number (letters as 10..35). Spaces are ignored; case is not.
pub fn iban_valid(text: &str) -> bool {
    let mut compact = [0_u8; 34];
    let mut n = 0;
    for b in text.bytes().filter(|&b| b != b' ') {
        if n == compact.len() || !b.is_ascii_alphanumeric() {
            return false;
        }
        compact[n] = b.to_ascii_uppercase();
        n += 1;
    }
    let compact = &compact[..n];
    if n < 5 || !compact[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let country = std::str::from_utf8(&compact[..2]).unwrap_or("");
    if iban_length(country) != Some(n) {
        return false;
    }
    let mut remainder: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = char::from(b).to_digit(36).unwrap_or(0);
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// US SSN rules: area not 000, 666 or 900–999; group not 00; serial not
/// 0000; and not the numbers published in advertising.
pub fn ssn_valid(area: u16, group: u8, serial: u16) -> bool {
    let advertising = matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !advertising
}

/// EIP-55: `0x` + 40 hex; all-lower or all-upper has no checksum to check;
/// mixed case must match Keccak-256 of the lower-case hex.
pub fn eip55_valid(address: &str) -> bool {
    let Some(hex) = address.strip_prefix("0x") else { return false };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let lower = hex.to_ascii_lowercase();
    if hex == lower || hex == hex.to_ascii_uppercase() {
        return true;
    }
    let hash = Keccak256::digest(lower.as_bytes());
    hex.bytes().enumerate().all(|(i, b)| {
        let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        if b.is_ascii_digit() { true } else { b.is_ascii_uppercase() == (nibble >= 8) }
    })
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58Check of a Bitcoin legacy address (P2PKH `1…`, P2SH `3…`, or
/// testnet `m`/`n`/`2…`): 25 bytes, version, 4-byte double-SHA-256 checksum.
pub fn base58check_address_valid(text: &str) -> bool {
    if !(25..=35).contains(&text.len()) {
        return false;
    }
    let mut bytes = [0u8; 25];
    for c in text.bytes() {
        let Some(mut carry) = BASE58.iter().position(|&b| b == c).map(|p| p as u32) else {
            return false;
        };
        for byte in bytes.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return false; // more than 25 bytes
        }
    }
    if !matches!(bytes[0], 0x00 | 0x05 | 0x6f | 0xc4) {
        return false;
    }
    let check = Sha256::digest(Sha256::digest(&bytes[..21]));
    check[..4] == bytes[21..]
}

/// Which Bech32 variant a string's checksum matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bech32Variant {
    Bech32,
    Bech32m,
}

const BECH32_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// BIP-173/350 checksum of a whole Bech32 string (`hrp1data`): one case
/// only, at most 90 characters, a 6-character checksum.
pub fn bech32_checksum(text: &str) -> Option<Bech32Variant> {
    if text.len() > 90
        || (text.bytes().any(|b| b.is_ascii_lowercase())
            && text.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let (hrp, data) = lower.rsplit_once('1')?;
    if hrp.is_empty() || data.len() < 6 || !hrp.bytes().all(|b| (33..=126).contains(&b)) {
        return None;
    }
    let values: Vec<u8> = data
        .bytes()
        .map(|c| BECH32_CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let expanded =
        hrp.bytes().map(|b| b >> 5).chain(std::iter::once(0)).chain(hrp.bytes().map(|b| b & 31));
    match polymod(expanded.chain(values.iter().copied())) {
        1 => Some(Bech32Variant::Bech32),
        0x2bc8_30a3 => Some(Bech32Variant::Bech32m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_lengths_are_sorted_for_the_lookup() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(iban_length("AD"), Some(24));
        assert_eq!(iban_length("XK"), Some(20));
        assert_eq!(iban_length("DE"), Some(22));
        assert_eq!(iban_length("ZZ"), None);
    }

    #[test]
    fn luhn_accepts_real_test_cards_and_refuses_one_digit_off() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "378282246310005",
            "5555-5555-5555-4444",
            "6011111111111117",
        ] {
            assert!(luhn_valid(card), "{card}");
        }
        for bad in [
            "4111111111111112",
            "1234567890123",
            "4111",
            "4111111111111111111111",
            "41x1111111111111",
        ] {
            assert!(!luhn_valid(bad), "{bad}");
        }
    }

    #[test]
    fn iban_checks_country_length_and_mod_97() {
        for iban in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "NO9386011117947",
        ] {
            assert!(iban_valid(iban), "{iban}");
        }
        assert!(!iban_valid("GB82 WEST 1234 5698 7654 33"), "mod 97");
        assert!(!iban_valid("GB82 WEST 1234 5698 7654 3"), "length");
        assert!(!iban_valid("ZZ82WEST12345698765432"), "country");
        assert!(!iban_valid("GB8!WEST12345698765432"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid(123, 45, 6789));
        for (a, g, s) in [
            (0, 12, 3456),
            (666, 12, 3456),
            (900, 12, 3456),
            (123, 0, 3456),
            (123, 45, 0),
            (78, 5, 1120),
        ] {
            assert!(!ssn_valid(a, g, s), "{a}-{g}-{s}");
        }
    }

    #[test]
    fn eip55_mixed_case_must_match() {
        assert!(eip55_valid("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
        assert!(eip55_valid("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"));
        assert!(eip55_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
        assert!(!eip55_valid("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
        assert!(!eip55_valid("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe"));
    }

    #[test]
    fn base58check_addresses() {
        assert!(base58check_address_valid("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"));
        assert!(base58check_address_valid("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(!base58check_address_valid("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"));
        assert!(!base58check_address_valid("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNV0I"));
    }

    #[test]
    fn bech32_and_bech32m_spec_vectors() {
        for s in [
            "A12UEL5L",
            "a12uel5l",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ] {
            assert_eq!(bech32_checksum(s), Some(Bech32Variant::Bech32), "{s}");
        }
        for s in ["A1LQFN3A", "a1lqfn3a", "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx"] {
            assert_eq!(bech32_checksum(s), Some(Bech32Variant::Bech32m), "{s}");
        }
        for s in [
            "A1G7SGD8",
            "li1dgmt3",
            "pzry9x0s0muk",
            "1pzry9x0s0muk",
            "x1b4n0q5v",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
            "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ] {
            assert_eq!(bech32_checksum(s), None, "{s}");
        }
    }
}
