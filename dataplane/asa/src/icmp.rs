//! ICMP and ICMPv6 type literals of the ASA: the names an `icmp` or
//! `icmp6` access-list entry, an `icmp-object` and a `service icmp|icmp6`
//! take, and print back ("ICMP Types", Cisco ASA Series General
//! Operations CLI Configuration Guide, "Addresses, Protocols, and Ports";
//! the ICMPv6 names of the Command Reference's `ipv6 icmp`). A number
//! 0–255 is taken for any type; a name is of one family only (`echo` is
//! type 8 for `icmp`, 128 for `icmp6`; `packet-too-big` is ICMPv6's).

/// ICMP (IPv4) type names, by number (RFC 792 and the later types the ASA
/// names).
const ICMP4: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("alternate-address", 6),
    ("echo", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("information-request", 15),
    ("information-reply", 16),
    ("mask-request", 17),
    ("mask-reply", 18),
    ("traceroute", 30),
    ("conversion-error", 31),
    ("mobile-redirect", 32),
];

/// ICMPv6 type names, by number (RFC 4443, RFC 2710's listener messages,
/// RFC 4861's neighbour discovery, RFC 2894's router renumbering).
const ICMP6: &[(&str, u8)] = &[
    ("unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo", 128),
    ("echo-reply", 129),
    ("membership-query", 130),
    ("membership-report", 131),
    ("membership-reduction", 132),
    ("router-solicitation", 133),
    ("router-advertisement", 134),
    ("neighbor-solicitation", 135),
    ("neighbor-advertisement", 136),
    ("neighbor-redirect", 137),
    ("router-renumbering", 138),
];

fn table(v6: bool) -> &'static [(&'static str, u8)] {
    if v6 { ICMP6 } else { ICMP4 }
}

/// An ICMP (`v6` false) or ICMPv6 type: a number 0–255 or a name of that
/// family.
pub fn icmp_type(word: &str, v6: bool) -> Option<u8> {
    if let Ok(n) = word.parse::<u8>() {
        return Some(n);
    }
    table(v6)
        .iter()
        .find(|(name, _)| *name == word)
        .map(|&(_, n)| n)
}

/// Whether `word` is a type name of the other family than `v6`'s (to say
/// so in an error: `packet-too-big` after `icmp`).
pub fn is_other_family_name(word: &str, v6: bool) -> bool {
    table(v6).iter().all(|(name, _)| *name != word)
        && table(!v6).iter().any(|(name, _)| *name == word)
}

/// Whether `word` is a type name of either family.
pub fn is_type_name(word: &str) -> bool {
    ICMP4.iter().chain(ICMP6).any(|(name, _)| *name == word)
}

/// How a type is printed: its name in its family, else its number.
pub fn icmp_type_name(n: u8, v6: bool) -> String {
    table(v6)
        .iter()
        .find(|&&(_, v)| v == n)
        .map_or_else(|| n.to_string(), |&(name, _)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_family() {
        assert_eq!(icmp_type("echo", false), Some(8));
        assert_eq!(icmp_type("echo", true), Some(128));
        assert_eq!(icmp_type("echo-reply", false), Some(0));
        assert_eq!(icmp_type("echo-reply", true), Some(129));
        assert_eq!(icmp_type("unreachable", false), Some(3));
        assert_eq!(icmp_type("unreachable", true), Some(1));
        assert_eq!(icmp_type("packet-too-big", true), Some(2));
        assert_eq!(icmp_type("packet-too-big", false), None);
        assert_eq!(icmp_type("mask-request", true), None);
        assert_eq!(icmp_type("traceroute", false), Some(30));
        assert_eq!(icmp_type("255", true), Some(255));
        assert_eq!(icmp_type("256", false), None);
        assert_eq!(icmp_type("echoo", false), None);
        assert!(is_other_family_name("packet-too-big", false));
        assert!(!is_other_family_name("echo", false));
        assert!(!is_other_family_name("bogus", false));
        assert!(is_type_name("neighbor-redirect"));
        assert!(!is_type_name("www"));
    }

    #[test]
    fn every_printed_type_parses_back() {
        for v6 in [false, true] {
            for n in 0..=u8::MAX {
                assert_eq!(icmp_type(&icmp_type_name(n, v6), v6), Some(n), "{n}");
            }
        }
        assert_eq!(icmp_type_name(8, false), "echo");
        assert_eq!(icmp_type_name(128, true), "echo");
        assert_eq!(icmp_type_name(128, false), "128");
        assert_eq!(icmp_type_name(2, true), "packet-too-big");
    }
}
