//! `tcp-map NAME` and its sub-commands (the TCP normalizer's settings,
//! Cisco ASA Series Command Reference, `tcp-map` and the commands of its
//! mode), `no tcp-map NAME`, and a class's `set connection
//! advanced-options NAME` (docs/asa-behaviour.md §6.1).
//!
//! Each sub-command has its `no` form, which puts the setting back to the
//! ASA's default. Settings Rampart cannot honour are refused at their
//! column with the reason, never applied without effect, when a class
//! applies their map: `invalid-ack allow` and `seq-past-window allow`
//! (Rampart's window checks are strict, in a cluster too: docs/sync.md §4
//! rests on them), `check-retransmission` (no copy of sent data is kept
//! to compare a retransmission with), `window-variation drop`, and
//! `tcp-options md5` and `tcp-options mss`. In a map no class applies they
//! change nothing, and are listed as ignored: an imported configuration
//! with such a map unused is taken, as it was before tcp-maps were read. `queue-limit` is kept and rendered but has no
//! effect (Rampart queues no out-of-order segment), which `config check`
//! lists.

use crate::ast::*;

use super::cursor::{Cur, R};
use super::modes::Mode;
use super::refs::{Owner, RefKind};
use super::{ParseError, Parser};

/// Most tcp-maps in a configuration (*inferred*: the ASA documents no
/// limit; one per class of the largest policy is far more than enough).
const MAX_TCP_MAPS: usize = 256;
/// Most `tcp-options range` lines in one map: one per option kind the
/// ranges may name (6, 7, 9–255) is the most that can matter.
const MAX_RANGES: usize = 249;
/// `queue-limit` packets, 1–250, and its `timeout`, 1–20 seconds.
const QUEUE_LIMIT_MAX: u8 = 250;
const QUEUE_TIMEOUT_MAX: u8 = 20;

/// Why a `queue-limit` line changes nothing (`config check` lists it).
pub(super) const REASON_QUEUE_LIMIT: &str = "queue-limit has no effect: Rampart queues no out-of-order segment, it passes them as they come";
/// Why `checksum-verification` changes nothing.
pub(super) const REASON_CHECKSUM: &str =
    "checksum-verification has no effect: Rampart verifies every TCP checksum always";
/// Why a tcp-map beside `tcp-state-bypass` changes nothing.
pub const REASON_MAP_WITH_BYPASS: &str =
    "tcp-state-bypass skips the TCP normalizer: the class's tcp-map has no effect";

/// Why an unhonoured setting of a map no class applies is listed.
const REASON_UNHONOURED_UNUSED: &str = "a tcp-map setting Rampart cannot honour, in a map no \
     class applies: it changes nothing (a class applying the map is refused)";

/// A tcp-map setting Rampart cannot honour, and where it was written.
#[derive(Debug)]
pub(super) struct Unhonoured {
    map: String,
    /// The setting, so its `no` form (or a later allowed value) takes it
    /// back.
    key: &'static str,
    line: usize,
    col: usize,
    text: String,
    message: String,
}

impl Parser {
    /// Note a setting of map `i` Rampart cannot honour, at column `col`.
    fn unhonoured(
        &mut self,
        c: &Cur<'_>,
        i: usize,
        key: &'static str,
        col: usize,
        message: String,
    ) {
        let map = self.cfg.tcp_maps[i].name.clone();
        self.settled(&map, key);
        self.unhonoured.push(Unhonoured {
            map,
            key,
            line: c.line,
            col,
            text: c.raw.trim().to_string(),
            message,
        });
    }

    /// Setting `key` of `map` is back to one Rampart honours.
    fn settled(&mut self, map: &str, key: &str) {
        self.unhonoured.retain(|u| !(u.map == map && u.key == key));
    }

    /// Once the whole text is read: refuse each unhonoured setting of a
    /// map a class applies, at its column; list the others as ignored.
    pub(super) fn settle_unhonoured(&mut self) {
        for u in std::mem::take(&mut self.unhonoured) {
            let applied = self.cfg.tcp_maps.iter().any(|m| m.name == u.map)
                && self.cfg.policy_maps.iter().any(|p| {
                    p.classes
                        .iter()
                        .any(|k| k.tcp_map.as_deref() == Some(u.map.as_str()))
                });
            if applied {
                self.errors.push(ParseError {
                    line: u.line,
                    column: u.col,
                    message: u.message,
                });
            } else {
                self.ignored.push(super::IgnoredLine {
                    line: u.line,
                    text: u.text,
                    reason: REASON_UNHONOURED_UNUSED,
                });
            }
        }
    }

    /// `tcp-map NAME`: opens the map's mode, re-entering it if defined.
    pub(super) fn tcp_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let name = c.word("tcp-map name")?;
        c.done()?;
        let i = match self.cfg.tcp_maps.iter().position(|m| m.name == name.text) {
            Some(i) => i,
            None if self.cfg.tcp_maps.len() >= MAX_TCP_MAPS => {
                return Err(c.err_at(
                    name.col,
                    format!("a configuration holds at most {MAX_TCP_MAPS} tcp-maps"),
                ));
            }
            None => {
                self.cfg.tcp_maps.push(TcpMap::new(name.text));
                self.cfg.tcp_maps.len() - 1
            }
        };
        self.mode = Mode::TcpMap(i);
        Ok(())
    }

    /// `no tcp-map NAME`: refused while a class names it, as the ASA
    /// refuses to remove a map in use.
    pub(super) fn no_tcp_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        let name = c.word("tcp-map name")?;
        c.done()?;
        let user = self.cfg.policy_maps.iter().find_map(|p| {
            p.classes
                .iter()
                .find(|k| k.tcp_map.as_deref() == Some(name.text))
                .map(|k| (p.name.clone(), k.class.clone()))
        });
        if let Some((policy, class)) = user {
            return Err(c.err_at(
                name.col,
                format!(
                    "tcp-map '{}' is in use by class '{class}' of policy-map '{policy}'",
                    name.text
                ),
            ));
        }
        let n = self.cfg.tcp_maps.len();
        self.cfg.tcp_maps.retain(|m| m.name != name.text);
        if n == self.cfg.tcp_maps.len() {
            return Err(c.err_at(name.col, format!("no such tcp-map '{}'", name.text)));
        }
        self.unhonoured.retain(|u| u.map != name.text);
        Ok(())
    }

    /// A line of `tcp-map` mode.
    pub(super) fn tcp_map_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("tcp-map command")?;
        let mut m = self.cfg.tcp_maps[i].clone();
        match cmd.text {
            "check-retransmission" => {
                c.done()?;
                if negate {
                    self.settled(&m.name, "check-retransmission");
                } else {
                    self.unhonoured(
                        c,
                        i,
                        "check-retransmission",
                        cmd.col,
                        "check-retransmission is not supported: Rampart keeps no copy of the \
                         data a connection sent to compare a retransmission with"
                            .into(),
                    );
                }
            }
            "checksum-verification" => {
                c.done()?;
                m.checksum_verification = !negate;
                self.ignore(c, REASON_CHECKSUM);
            }
            "exceed-mss" => m.exceed_mss_drop = allow_drop(c, negate)? == Some(true),
            "invalid-ack" | "seq-past-window" => {
                let key = if cmd.text == "invalid-ack" {
                    "invalid-ack"
                } else {
                    "seq-past-window"
                };
                let col = c.col();
                if allow_drop(c, negate)? == Some(false) {
                    let message = format!(
                        "{key} allow is not supported: Rampart checks windows strictly, in a \
                         cluster too; use 'set connection advanced-options \
                         tcp-state-bypass' for traffic that needs it"
                    );
                    self.unhonoured(c, i, key, col, message);
                } else {
                    self.settled(&m.name, key);
                }
            }
            "queue-limit" => {
                m.queue_limit = if negate {
                    c.rest();
                    None
                } else {
                    let packets = small_number(c, "queue-limit", 1, QUEUE_LIMIT_MAX)?;
                    let timeout_secs = if c.eat("timeout") {
                        Some(small_number(c, "timeout", 1, QUEUE_TIMEOUT_MAX)?)
                    } else {
                        None
                    };
                    c.done()?;
                    self.ignore(c, REASON_QUEUE_LIMIT);
                    Some(QueueLimit {
                        packets,
                        timeout_secs,
                    })
                };
            }
            "reserved-bits" => {
                m.reserved_bits = action(c, negate, true)?.unwrap_or(TcpOptionAction::Allow);
            }
            "syn-data" => m.syn_data_drop = allow_drop(c, negate)? == Some(true),
            "synack-data" => m.synack_data_allow = allow_drop(c, negate)? == Some(false),
            "tcp-options" if matches!(c.peek(), Some("md5" | "mss")) => {
                let which = c.next().expect("peeked");
                let key = if which.text == "md5" {
                    "tcp-options md5"
                } else {
                    "tcp-options mss"
                };
                let col = which.col;
                let words: &[&str] = if which.text == "md5" {
                    &["allow", "clear", "drop"]
                } else {
                    &["allow", "drop"]
                };
                match action_word(c, negate, words)? {
                    None => self.settled(&m.name, key),
                    Some(_) => self.unhonoured(
                        c,
                        i,
                        key,
                        col,
                        format!(
                            "{key} is not supported: no source at hand says what the ASA does \
                             with it; use 'tcp-options range' for option kinds 6, 7 and 9-255"
                        ),
                    ),
                }
            }
            "tcp-options" => tcp_options(c, &mut m, negate)?,
            "ttl-evasion-protection" => {
                c.done()?;
                m.ttl_evasion_protection_off = negate;
            }
            "urgent-flag" => {
                m.urgent_flag_allow =
                    action(c, negate, false)?.is_some_and(|a| a == TcpOptionAction::Allow);
            }
            "window-variation" => {
                let col = c.col();
                if allow_drop(c, negate)? == Some(true) {
                    self.unhonoured(
                        c,
                        i,
                        "window-variation",
                        col,
                        "window-variation drop is not supported: Rampart does not judge \
                         changes of the advertised window"
                            .into(),
                    );
                } else {
                    self.settled(&m.name, "window-variation");
                }
            }
            w => return Err(c.err_at(cmd.col, format!("unknown tcp-map command '{w}'"))),
        }
        self.cfg.tcp_maps[i] = m;
        Ok(())
    }

    /// List as ignored each class's `set connection advanced-options MAP`
    /// line where the class also has `tcp-state-bypass` in the final
    /// configuration: bypass skips the normalizer, so the map has no
    /// effect (docs/asa-behaviour.md §6.1). Its last line, once per class.
    pub(super) fn note_maps_beside_bypass(&mut self) {
        let mut notes: Vec<(String, String, IgnoredLineAt)> = Vec::new();
        for r in &self.refs {
            let Owner::TcpMapUse { policy, class, map } = &r.owner else {
                continue;
            };
            let bypassed = self.cfg.policy_maps.iter().any(|p| {
                p.name == *policy
                    && p.classes.iter().any(|c| {
                        c.class == *class
                            && c.connection.tcp_state_bypass
                            && c.tcp_map.as_deref() == Some(map)
                    })
            });
            if !bypassed {
                continue;
            }
            let at = IgnoredLineAt {
                line: r.line,
                text: format!("set connection advanced-options {map}"),
            };
            match notes.iter_mut().find(|(p, c, _)| p == policy && c == class) {
                Some(n) => n.2 = at,
                None => notes.push((policy.clone(), class.clone(), at)),
            }
        }
        for (_, _, at) in notes {
            self.ignored.push(super::IgnoredLine {
                line: at.line,
                text: at.text,
                reason: REASON_MAP_WITH_BYPASS,
            });
        }
    }

    /// `set connection advanced-options NAME` (or its `no`) in class `k`
    /// of policy-map `pm`, `NAME` being a tcp-map: checked once the whole
    /// text is read, so the map may be defined later.
    pub(super) fn advanced_options_map(
        &mut self,
        c: &mut Cur<'_>,
        pm: usize,
        k: usize,
        negate: bool,
    ) -> R<()> {
        c.keyword("connection")?;
        c.keyword("advanced-options")?;
        let name = c.word("tcp-map name")?;
        c.done()?;
        let class = &mut self.cfg.policy_maps[pm].classes[k];
        if negate {
            if class.tcp_map.as_deref() != Some(name.text) {
                return Err(c.err_at(
                    name.col,
                    format!(
                        "class '{}' has no advanced-options '{}'",
                        class.class, name.text
                    ),
                ));
            }
            class.tcp_map = None;
            return Ok(());
        }
        class.tcp_map = Some(name.text.to_string());
        let owner = Owner::TcpMapUse {
            policy: self.cfg.policy_maps[pm].name.clone(),
            class: self.cfg.policy_maps[pm].classes[k].class.clone(),
            map: name.text.to_string(),
        };
        let at = self.refs.len();
        self.reference(c, RefKind::TcpMap, name);
        self.own(at, &owner);
        Ok(())
    }
}

/// Where an ignored line is, and its text.
struct IgnoredLineAt {
    line: usize,
    text: String,
}

/// `allow` or `drop` after a sub-command: `Some(true)` for drop,
/// `Some(false)` for allow, `None` for the `no` form (the default; the
/// word may follow it or not).
fn allow_drop(c: &mut Cur<'_>, negate: bool) -> R<Option<bool>> {
    let a = action_word(c, negate, &["allow", "drop"])?;
    Ok(a.map(|a| a == TcpOptionAction::Drop))
}

/// `allow`, `clear` or (with `drop`) `drop`.
fn action(c: &mut Cur<'_>, negate: bool, drop: bool) -> R<Option<TcpOptionAction>> {
    if drop {
        action_word(c, negate, &["allow", "clear", "drop"])
    } else {
        action_word(c, negate, &["allow", "clear"])
    }
}

fn action_word(c: &mut Cur<'_>, negate: bool, words: &[&str]) -> R<Option<TcpOptionAction>> {
    let expected = match words {
        [a, b] => format!("'{a}' or '{b}'"),
        _ => format!("'{}'", words.join("', '")),
    };
    let a = match c.next() {
        None if negate => return Ok(None),
        None => return Err(c.expected(&expected)),
        Some(t) if words.contains(&t.text) => match t.text {
            "allow" => TcpOptionAction::Allow,
            "clear" => TcpOptionAction::Clear,
            _ => TcpOptionAction::Drop,
        },
        Some(_) => {
            c.back();
            return Err(c.expected(&expected));
        }
    };
    c.done()?;
    Ok(if negate { None } else { Some(a) })
}

/// `tcp-options {selective-ack|timestamp|window-scale} {allow|clear}` or
/// `tcp-options range LOWER UPPER {allow|clear|drop}`.
fn tcp_options(c: &mut Cur<'_>, m: &mut TcpMap, negate: bool) -> R<()> {
    const WHICH: &str = "'selective-ack', 'timestamp', 'window-scale' or 'range'";
    let Some(t) = c.next() else {
        return Err(c.expected(WHICH));
    };
    let slot = match t.text {
        "selective-ack" => &mut m.selective_ack_clear,
        "timestamp" => &mut m.timestamp_clear,
        "window-scale" => &mut m.window_scale_clear,
        "range" => return tcp_options_range(c, m, negate),
        _ => {
            c.back();
            return Err(c.expected(WHICH));
        }
    };
    *slot = action(c, negate, false)? == Some(TcpOptionAction::Clear);
    Ok(())
}

fn tcp_options_range(c: &mut Cur<'_>, m: &mut TcpMap, negate: bool) -> R<()> {
    let lower_col = c.col();
    let lower = option_kind(c, "lower")?;
    let upper_col = c.col();
    let upper = option_kind(c, "upper")?;
    if lower > upper {
        return Err(c.err_at(
            upper_col,
            format!("upper option kind {upper} is below the lower one, {lower}"),
        ));
    }
    let act = action(c, negate, true)?;
    let at = m
        .ranges
        .iter()
        .position(|r| r.lower == lower && r.upper == upper);
    match (act, at) {
        (None, Some(i)) => {
            m.ranges.remove(i);
        }
        (None, None) => {
            return Err(c.err_at(
                lower_col,
                format!("no such tcp-options range {lower} {upper}"),
            ));
        }
        // Re-entering a range changes its action where it stands.
        (Some(action), Some(i)) => m.ranges[i].action = action,
        (Some(_), None) if m.ranges.len() >= MAX_RANGES => {
            return Err(c.err_at(
                lower_col,
                format!("a tcp-map holds at most {MAX_RANGES} tcp-options range lines"),
            ));
        }
        (Some(action), None) => m.ranges.push(TcpOptionRange {
            lower,
            upper,
            action,
        }),
    }
    Ok(())
}

/// An option kind a range may name: 6, 7 or 9–255 (the others are NOP,
/// end of list, and the options the named sub-commands and the MSS clamp
/// govern).
fn option_kind(c: &mut Cur<'_>, which: &str) -> R<u8> {
    let t = c.word(&format!("{which} option kind"))?;
    match t.text.parse::<u16>() {
        Ok(k @ (6 | 7 | 9..=255)) => Ok(k as u8),
        _ => Err(c.err_at(
            t.col,
            format!(
                "{which} option kind must be 6, 7 or 9-255, found '{}'",
                t.text
            ),
        )),
    }
}

/// A number in `min..=max`, refused at its column otherwise.
fn small_number(c: &mut Cur<'_>, what: &str, min: u8, max: u8) -> R<u8> {
    let t = c.word(&format!("{what} value"))?;
    t.text
        .parse::<u8>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            c.err_at(
                t.col,
                format!("{what} must be {min}-{max}, found '{}'", t.text),
            )
        })
}

#[cfg(test)]
mod tests;
