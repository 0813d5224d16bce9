//! `TYPE [CODE]` after `icmp` or `icmp6`: an access-list entry's
//! `icmp_argument` and a service's ICMP type ("Add an Extended ACE for
//! ICMP-Based Matching", Cisco ASA Series Firewall CLI Configuration
//! Guide: "Specifies the ICMP type by name or number, and the optional
//! ICMP code for that type. If you do not specify the code, then all
//! codes are used"). The type is a number 0–255 or a name of the entry's
//! family (`crate::icmp`); a code, 0–255, only follows a type.

use crate::ast::IcmpMatch;
use crate::icmp;

use super::cursor::{Cur, R};

/// Whether a word is written as a number (so a number out of range is
/// reported as one).
fn numeric(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|ch| ch.is_ascii_digit())
}

/// The family word of `v6`'s ICMP, as the protocol position writes it.
pub(super) fn family(v6: bool) -> &'static str {
    if v6 { "icmp6" } else { "icmp" }
}

/// `TYPE [CODE]` of an `icmp` (`v6` false) or `icmp6` entry or service.
pub(super) fn icmp_match(c: &mut Cur<'_>, v6: bool) -> R<IcmpMatch> {
    let t = c.word("ICMP type")?;
    let Some(icmp_type) = icmp::icmp_type(t.text, v6) else {
        let (own, other) = (family(v6), family(!v6));
        let message = if numeric(t.text) {
            format!("invalid ICMP type '{}', expected 0-255", t.text)
        } else if icmp::is_other_family_name(t.text, v6) {
            format!(
                "'{}' is an {other} type, not an {own} type: name it after {other}",
                t.text
            )
        } else {
            format!(
                "invalid {own} type '{}', expected an {own} type name or 0-255",
                t.text
            )
        };
        return Err(c.err_at(t.col, message));
    };
    let code =
        match c.peek() {
            Some(w) if numeric(w) => {
                let col = c.col();
                c.next();
                Some(w.parse::<u8>().map_err(|_| {
                    c.err_at(col, format!("invalid ICMP code '{w}', expected 0-255"))
                })?)
            }
            _ => None,
        };
    Ok(IcmpMatch { icmp_type, code })
}
