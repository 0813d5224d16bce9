//! `policy-map NAME` and its classes: `set connection` limits, timeouts,
//! sequence randomization and tcp-state-bypass, and `inspect` (`icmp` and
//! `icmp error` enforced, the others kept but not enforced); other class
//! actions are ignored.

use std::time::Duration;

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R};
use super::modes::{
    CLASS_IGNORED, Mode, REASON_CLASS_ACTION, REASON_DECREMENT_TTL, REASON_INSPECT,
    REASON_TYPED_MAP,
};
use super::refs::{Owner, RefKind};

// The ranges of `set connection` options: `docs/asa-behaviour.md` §2.2.

/// Connection limits are 0–2000000.
const CONN_LIMIT_MAX: u32 = 2_000_000;
/// Longest class timeout: 1193:00:00.
const TIMEOUT_MAX_SECS: u64 = 1193 * 3600;
/// Shortest non-zero `timeout embryonic`.
const EMBRYONIC_MIN_SECS: u64 = 5;
/// Shortest non-zero `timeout half-closed` (ASA ≥ 9.1(2)).
const HALF_CLOSED_MIN_SECS: u64 = 30;
/// Shortest non-zero `timeout idle`.
const IDLE_MIN_SECS: u64 = 1;

/// Most policy-maps in a configuration, and classes in one besides
/// `class-default` (the ASA's limits, `docs/asa-behaviour.md` §2.1).
const MAX_POLICY_MAPS: usize = 64;
const MAX_CLASSES_PER_POLICY_MAP: usize = 63;

impl Parser {
    pub(super) fn policy_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        if c.peek() == Some("type") {
            self.ignore(c, REASON_TYPED_MAP);
            self.mode = Mode::Ignored;
            return Ok(());
        }
        let name = c.word("policy-map name")?;
        c.done()?;
        let i = match self
            .cfg
            .policy_maps
            .iter()
            .position(|m| m.name == name.text)
        {
            Some(i) => i,
            None if self.cfg.policy_maps.len() >= MAX_POLICY_MAPS => {
                return Err(c.err_at(
                    name.col,
                    format!("a configuration holds at most {MAX_POLICY_MAPS} policy-maps"),
                ));
            }
            None => {
                self.cfg.policy_maps.push(PolicyMap {
                    name: name.text.to_string(),
                    classes: Vec::new(),
                });
                self.cfg.policy_maps.len() - 1
            }
        };
        self.mode = Mode::PolicyMap(i);
        Ok(())
    }

    /// A line of a policy-map (`class` is `None` before the first class).
    pub(super) fn policy_sub(&mut self, c: &mut Cur<'_>, pm: usize, class: Option<usize>) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("policy-map command")?;
        match cmd.text {
            "class" if negate => self.no_class(c, pm),
            "class" => self.policy_class(c, pm),
            "description" => {
                self.ignore(c, "policy-map descriptions are not kept");
                Ok(())
            }
            w if CLASS_IGNORED.contains(&w) => {
                self.ignore(c, REASON_CLASS_ACTION);
                Ok(())
            }
            w => match class {
                None => Err(c.err_at(cmd.col, format!("expected 'class' before '{w}'"))),
                Some(k) if w == "inspect" => self.inspect(c, pm, k, negate),
                // `set connection advanced-options MAP`, a tcp-map (tcp_map.rs).
                Some(k)
                    if c.peek() == Some("connection")
                        && c.peek_at(1) == Some("advanced-options")
                        && c.peek_at(2).is_some_and(|w| w != "tcp-state-bypass") =>
                {
                    self.advanced_options_map(c, pm, k, negate)
                }
                Some(k) => {
                    c.keyword("connection")?;
                    let mut s = self.cfg.policy_maps[pm].classes[k].connection;
                    if set_connection(c, &mut s, negate)? {
                        self.cfg.policy_maps[pm].classes[k].connection = s;
                    } else {
                        self.ignore(c, REASON_DECREMENT_TTL);
                    }
                    Ok(())
                }
            },
        }
    }

    fn policy_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        let name = c.word("class name")?;
        c.done()?;
        if name.text != "class-default" {
            let at = self.refs.len();
            self.reference(c, RefKind::ClassMap, name);
            let owner = Owner::PolicyClass {
                policy: self.cfg.policy_maps[pm].name.clone(),
                class: name.text.to_string(),
            };
            self.own(at, &owner);
        }
        let classes = &mut self.cfg.policy_maps[pm].classes;
        let k = match classes.iter().position(|x| x.class == name.text) {
            Some(k) => k,
            None if name.text != "class-default"
                && classes
                    .iter()
                    .filter(|x| x.class != "class-default")
                    .count()
                    >= MAX_CLASSES_PER_POLICY_MAP =>
            {
                return Err(c.err_at(
                    name.col,
                    format!(
                        "a policy-map holds at most {MAX_CLASSES_PER_POLICY_MAP} classes \
                         besides class-default"
                    ),
                ));
            }
            None => {
                // class-default is always last (`docs/asa-behaviour.md` §2.3); a class
                // added after it goes before it, as on the ASA.
                let at = match classes.last() {
                    Some(l) if l.class == "class-default" => classes.len() - 1,
                    _ => classes.len(),
                };
                classes.insert(
                    at,
                    PolicyClass {
                        class: name.text.to_string(),
                        connection: ConnectionSettings::default(),
                        inspects: Vec::new(),
                        tcp_map: None,
                    },
                );
                at
            }
        };
        self.mode = Mode::PolicyClass(pm, k);
        Ok(())
    }

    /// `no class NAME` inside a policy-map.
    fn no_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        let name = c.word("class name")?;
        c.done()?;
        let map = &mut self.cfg.policy_maps[pm];
        let n = map.classes.len();
        map.classes.retain(|x| x.class != name.text);
        if map.classes.len() == n {
            return Err(c.err_at(
                name.col,
                format!("no such class '{}' in policy-map '{}'", name.text, map.name),
            ));
        }
        self.mode = Mode::PolicyMap(pm);
        Ok(())
    }

    fn inspect(&mut self, c: &mut Cur<'_>, pm: usize, k: usize, negate: bool) -> R<()> {
        let col = c.col();
        let what = c.rest_words();
        if what.is_empty() {
            return Err(c.expected("inspection name"));
        }
        let class = &mut self.cfg.policy_maps[pm].classes[k];
        if negate {
            let n = class.inspects.len();
            class.inspects.retain(|x| *x != what);
            if class.inspects.len() == n {
                return Err(c.err_at(
                    col,
                    format!("no such inspect '{what}' in class '{}'", class.class),
                ));
            }
            return Ok(());
        }
        // ICMP inspection is enforced (docs/asa-behaviour.md §2.5); the
        // application inspections are kept in the configuration only.
        let enforced = matches!(what.as_str(), "icmp" | "icmp error");
        if !class.inspects.contains(&what) {
            class.inspects.push(what);
        }
        if !enforced {
            self.ignore(c, REASON_INSPECT);
        }
        Ok(())
    }
}

/// `H:MM:SS`, at most 1193:00:00 (`docs/asa-behaviour.md` §2.2).
pub(super) fn hms(c: &mut Cur<'_>) -> R<Duration> {
    let t = c.word("time as H:MM:SS")?;
    let nums: Option<Vec<u64>> = t
        .text
        .split(':')
        .map(|p| {
            (!p.is_empty() && p.len() <= 4 && p.chars().all(|ch| ch.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect();
    let secs = match nums.as_deref() {
        Some(&[h, m, s]) if m < 60 && s < 60 => h * 3600 + m * 60 + s,
        _ => {
            return Err(c.err_at(
                t.col,
                format!("invalid time '{}', expected H:MM:SS", t.text),
            ));
        }
    };
    if secs > TIMEOUT_MAX_SECS {
        return Err(c.err_at(t.col, format!("time '{}' is beyond 1193:00:00", t.text)));
    }
    Ok(Duration::from_secs(secs))
}

/// A time as [`hms`] reads it, refused at its column when it is below
/// `min_secs` seconds, other than zero (never): "`what` must be at least …".
pub(super) fn hms_at_least(c: &mut Cur<'_>, what: &str, min_secs: u64) -> R<Duration> {
    let col = c.col();
    let d = hms(c)?;
    if !d.is_zero() && d.as_secs() < min_secs {
        let least = crate::render::hms(Duration::from_secs(min_secs));
        return Err(c.err_at(
            col,
            format!("{what} must be at least {least} (or 0:00:00 for never)"),
        ));
    }
    Ok(d)
}

/// The words after `set connection`: limits and randomization, or
/// `timeout …`, or `advanced-options …`. With `negate`, the named options
/// return to their defaults. False for `decrement-ttl`, which is ignored.
fn set_connection(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<bool> {
    match c.peek() {
        Some("timeout") => {
            c.next();
            set_timeouts(c, s, negate)?;
        }
        Some("advanced-options") => {
            c.next();
            // A tcp-map's name is taken by `advanced_options_map`
            // (tcp_map.rs) before this.
            let t = c.word("'tcp-state-bypass' or a tcp-map name")?;
            if t.text != "tcp-state-bypass" {
                return Err(c.err_at(t.col, "expected 'tcp-state-bypass'"));
            }
            c.done()?;
            s.tcp_state_bypass = !negate;
        }
        Some("decrement-ttl") => {
            c.next();
            c.done()?;
            return Ok(false);
        }
        None => return Err(c.expected("connection option")),
        Some(_) => set_limits(c, s, negate)?,
    }
    Ok(true)
}

fn set_limits(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<()> {
    while let Some(t) = c.next() {
        let slot = match t.text {
            "conn-max" => &mut s.conn_max,
            "embryonic-conn-max" => &mut s.embryonic_conn_max,
            "per-client-max" => &mut s.per_client_max,
            "per-client-embryonic-max" => &mut s.per_client_embryonic_max,
            "random-sequence-number" => {
                let v = match c.next().map(|t| t.text) {
                    Some("enable") => true,
                    Some("disable") => false,
                    None if negate => {
                        s.random_sequence_number = None;
                        continue;
                    }
                    Some(_) => {
                        c.back();
                        return Err(c.expected("'enable' or 'disable'"));
                    }
                    None => return Err(c.expected("'enable' or 'disable'")),
                };
                s.random_sequence_number = if negate { None } else { Some(v) };
                continue;
            }
            w => {
                return Err(c.err_at(t.col, format!("expected connection option, found '{w}'")));
            }
        };
        if negate {
            *slot = None;
            if c.peek().is_some_and(|w| w.parse::<u32>().is_ok()) {
                c.next();
            }
            continue;
        }
        let n = c.word("number of connections")?;
        let v = n
            .text
            .parse::<u32>()
            .ok()
            .filter(|&v| v <= CONN_LIMIT_MAX)
            .ok_or_else(|| c.err_at(n.col, format!("{} must be 0-2000000", t.text)))?;
        *slot = Some(v);
    }
    Ok(())
}

fn set_timeouts(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<()> {
    const WHICH: &str = "'embryonic', 'half-closed', 'idle' or 'dcd'";
    if c.peek().is_none() {
        return Err(c.expected(WHICH));
    }
    while let Some(t) = c.next() {
        let (slot, min) = match t.text {
            "embryonic" => (&mut s.timeout_embryonic, EMBRYONIC_MIN_SECS),
            "half-closed" => (&mut s.timeout_half_closed, HALF_CLOSED_MIN_SECS),
            "idle" => (&mut s.timeout_idle, IDLE_MIN_SECS),
            "dcd" => {
                if negate {
                    s.dcd = None;
                    if c.peek().is_some_and(|w| w.contains(':')) {
                        c.next();
                        if c.peek().is_some_and(|w| w.parse::<u32>().is_ok()) {
                            c.next();
                        }
                    }
                } else {
                    s.dcd = Some(dcd(c)?);
                }
                continue;
            }
            _ => {
                c.back();
                return Err(c.expected(WHICH));
            }
        };
        if negate {
            *slot = None;
            if c.peek().is_some_and(|w| w.contains(':')) {
                c.next();
            }
            if t.text == "idle" {
                c.eat("reset");
                s.idle_reset = false;
            }
            continue;
        }
        let d = hms_at_least(c, &format!("{} timeout", t.text), min)?;
        // 0:00:00 means never; kept as Duration::ZERO.
        *slot = Some(d);
        if t.text == "idle" {
            s.idle_reset = c.eat("reset");
        }
    }
    Ok(())
}

/// Longest DCD retry interval: 24:00:00 (docs/asa-behaviour.md §2.2).
const DCD_RETRY_MAX_SECS: u64 = 24 * 3600;

/// The words after `timeout dcd`: `[RETRY [MAX]]`, each refused at its
/// column out of the ASA's range (retry 0:0:1 – 24:0:0, max 1 – 255).
fn dcd(c: &mut Cur<'_>) -> R<Dcd> {
    let mut d = Dcd::DEFAULT;
    if !c.peek().is_some_and(|w| w.contains(':')) {
        return Ok(d);
    }
    let col = c.col();
    let retry = hms(c)?;
    if retry.is_zero() || retry.as_secs() > DCD_RETRY_MAX_SECS {
        return Err(c.err_at(col, "dcd retry interval must be 0:00:01-24:00:00"));
    }
    d.retry_interval = retry;
    if let Some(w) = c.peek()
        && w.chars().all(|ch| ch.is_ascii_digit())
    {
        let n = c.word("number of retries")?;
        d.max_retries = n
            .text
            .parse::<u8>()
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| c.err_at(n.col, "dcd max retries must be 1-255"))?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::modes::{REASON_CLASS_ACTION, REASON_DECREMENT_TTL, REASON_INSPECT};
    use crate::parse::test_support::*;
    use std::time::Duration;

    /// A policy-map with class C (line 4), so `set connection` lines start at line 5.
    const CLASS: &str = "class-map C\n match any\npolicy-map P\n class C\n";

    fn settings(lines: &str) -> ConnectionSettings {
        cfg(&format!("{CLASS}{lines}")).policy_maps[0].classes[0].connection
    }

    #[test]
    fn seed_policy() {
        let c = cfg(
            "class-map tcp_bypass\n match any\npolicy-map global_policy\n class tcp_bypass\n  set connection per-client-max 10000\n  set connection timeout idle 0:00:15\n  set connection advanced-options tcp-state-bypass",
        );
        assert_eq!(
            c.policy_maps,
            vec![PolicyMap {
                name: "global_policy".into(),
                classes: vec![PolicyClass {
                    class: "tcp_bypass".into(),
                    connection: ConnectionSettings {
                        per_client_max: Some(10_000),
                        timeout_idle: Some(Duration::from_secs(15)),
                        tcp_state_bypass: true,
                        ..ConnectionSettings::default()
                    },
                    inspects: vec![],
                    tcp_map: None,
                }],
            }]
        );
    }

    #[test]
    fn connection_settings() {
        assert_eq!(
            settings(
                "  set connection conn-max 100 embryonic-conn-max 20 per-client-max 10 per-client-embryonic-max 5 random-sequence-number disable\n  set connection timeout embryonic 0:00:05 half-closed 0:00:30 idle 1193:00:00 reset"
            ),
            ConnectionSettings {
                conn_max: Some(100),
                embryonic_conn_max: Some(20),
                per_client_max: Some(10),
                per_client_embryonic_max: Some(5),
                random_sequence_number: Some(false),
                timeout_embryonic: Some(Duration::from_secs(5)),
                timeout_half_closed: Some(Duration::from_secs(30)),
                timeout_idle: Some(Duration::from_secs(1193 * 3600)),
                idle_reset: true,
                dcd: None,
                tcp_state_bypass: false,
            }
        );
        // 0:00:00 is "never"; limits take 0 and 2000000.
        let s = settings(
            "  set connection conn-max 0 per-client-max 2000000\n  set connection timeout embryonic 0:0:0 half-closed 0:00:00 idle 0:0:0",
        );
        assert_eq!(s.conn_max, Some(0));
        assert_eq!(s.per_client_max, Some(2_000_000));
        assert_eq!(s.timeout_embryonic, Some(Duration::ZERO));
        assert_eq!(s.timeout_half_closed, Some(Duration::ZERO));
        assert_eq!(s.timeout_idle, Some(Duration::ZERO));
        assert!(!s.idle_reset);
        // A repeated option overrides; `reset` goes with the last idle.
        let s = settings(
            "  set connection conn-max 100\n  set connection conn-max 200\n  set connection timeout idle 0:10:00 reset\n  set connection timeout idle 0:20:00\n  set connection random-sequence-number enable",
        );
        assert_eq!(s.conn_max, Some(200));
        assert_eq!(s.timeout_idle, Some(Duration::from_secs(1200)));
        assert!(!s.idle_reset);
        assert_eq!(s.random_sequence_number, Some(true));
        // `no set connection` returns options to their defaults.
        let s = settings(
            "  set connection conn-max 100 per-client-max 5 random-sequence-number disable\n  set connection timeout idle 0:10:00 reset embryonic 0:00:10\n  set connection advanced-options tcp-state-bypass\n  no set connection per-client-max 5 random-sequence-number\n  no set connection timeout idle\n  no set connection advanced-options tcp-state-bypass",
        );
        assert_eq!(
            s,
            ConnectionSettings {
                conn_max: Some(100),
                timeout_embryonic: Some(Duration::from_secs(10)),
                ..ConnectionSettings::default()
            }
        );
    }

    /// `timeout dcd [RETRY [MAX]]`, alone or after other timeouts, its
    /// defaults, and `no` removing it.
    #[test]
    fn dead_connection_detection() {
        let d = |l: &str| settings(l).dcd;
        assert_eq!(d("  set connection timeout dcd"), Some(Dcd::DEFAULT));
        assert_eq!(
            d("  set connection timeout idle 2:00:00 dcd 0:00:30"),
            Some(Dcd {
                retry_interval: Duration::from_secs(30),
                max_retries: 5
            })
        );
        let s = settings(
            "  set connection timeout idle 0:10:00 reset dcd 24:00:00 255 half-closed 0:01:00",
        );
        assert_eq!(
            s.dcd,
            Some(Dcd {
                retry_interval: Duration::from_secs(24 * 3600),
                max_retries: 255
            })
        );
        assert!(s.idle_reset);
        assert_eq!(s.timeout_half_closed, Some(Duration::from_secs(60)));
        assert_eq!(
            d("  set connection timeout dcd 0:0:1 1"),
            Some(Dcd {
                retry_interval: Duration::from_secs(1),
                max_retries: 1
            })
        );
        for no in [
            "no set connection timeout dcd",
            "no set connection timeout dcd 0:00:15",
            "no set connection timeout dcd 0:00:15 5",
        ] {
            let s = settings(&format!(
                "  set connection timeout idle 0:10:00 dcd 0:00:05 3\n  {no}"
            ));
            assert_eq!(s.dcd, None, "{no}");
            assert_eq!(s.timeout_idle, Some(Duration::from_secs(600)), "{no}");
        }
    }

    #[test]
    fn classes_inspects_and_ignored_actions() {
        let text = "class-map A\n match any\nclass-map B\n match any\npolicy-map P\n description edge policy\n class class-default\n  user-statistics accounting\n class A\n  inspect ftp\n  inspect  dns   preset_dns_map\n  inspect ftp\n  set connection decrement-ttl\n class B\n  police output 1000000\n class A\n  no inspect ftp";
        let p = parsed(text);
        let classes = &p.config.policy_maps[0].classes;
        // class-default stays last whatever the order of entry.
        assert_eq!(
            classes.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(),
            vec!["A", "B", "class-default"]
        );
        assert_eq!(classes[0].inspects, vec!["dns preset_dns_map".to_string()]);
        assert_eq!(classes[0].connection, ConnectionSettings::default());
        assert_eq!(
            p.ignored
                .iter()
                .map(|i| (i.line, i.reason))
                .collect::<Vec<_>>(),
            vec![
                (6, "policy-map descriptions are not kept"),
                (8, REASON_CLASS_ACTION),
                (10, REASON_INSPECT),
                (11, REASON_INSPECT),
                (12, REASON_INSPECT),
                (13, REASON_DECREMENT_TTL),
                (15, REASON_CLASS_ACTION),
            ]
        );
        let c = cfg(
            "class-map A\n match any\npolicy-map P\n class A\n class class-default\n no class A",
        );
        assert_eq!(c.policy_maps[0].classes.len(), 1);
        assert_eq!(c.policy_maps[0].classes[0].class, "class-default");
        // Re-entering a policy-map and a class edits them.
        let c = cfg(
            "class-map A\n match any\npolicy-map P\n class A\n  set connection conn-max 5\npolicy-map P\n class A\n  set connection per-client-max 1",
        );
        let s = c.policy_maps[0].classes[0].connection;
        assert_eq!((s.conn_max, s.per_client_max), (Some(5), Some(1)));
        assert!(cfg("policy-map P\nno policy-map P").policy_maps.is_empty());
        // ICMP inspection is enforced: kept and not listed as ignored.
        let text = "class-map inspection_default\n match default-inspection-traffic\npolicy-map global_policy\n class inspection_default\n  inspect icmp\n  inspect icmp error\n  inspect dns";
        let p = parsed(text);
        assert_eq!(
            p.config.policy_maps[0].classes[0].inspects,
            vec!["icmp", "icmp error", "dns"]
        );
        assert_eq!(
            p.ignored.iter().map(|i| i.line).collect::<Vec<_>>(),
            vec![7]
        );
    }

    #[test]
    fn policy_map_errors() {
        let at = |l: &str| format!("{CLASS}{l}");
        check_errors(&[
            ("policy-map", 1, 11, "expected policy-map name"),
            (
                "policy-map P\n set connection conn-max 5",
                2,
                2,
                "expected 'class' before 'set'",
            ),
            (
                "policy-map P\n inspect ftp",
                2,
                2,
                "expected 'class' before 'inspect'",
            ),
            ("policy-map P\n class", 2, 7, "expected class name"),
            (
                "policy-map P\n class MISSING",
                2,
                8,
                "class-map 'MISSING' is not defined",
            ),
            (
                "policy-map P\n no class C",
                2,
                11,
                "no such class 'C' in policy-map 'P'",
            ),
            (
                "policy-map P\n clas C",
                2,
                2,
                "unknown policy-map command 'clas'",
            ),
            ("no policy-map P", 1, 15, "no such policy-map 'P'"),
            (&at("  set"), 5, 6, "expected 'connection'"),
            (&at("  set connection"), 5, 17, "expected connection option"),
            (
                &at("  set connection bogus 5"),
                5,
                18,
                "expected connection option, found 'bogus'",
            ),
            (
                &at("  set connection conn-max"),
                5,
                26,
                "expected number of connections",
            ),
            (
                &at("  set connection conn-max 2000001"),
                5,
                27,
                "conn-max must be 0-2000000",
            ),
            (
                &at("  set connection per-client-max -1"),
                5,
                33,
                "per-client-max must be 0-2000000",
            ),
            (
                &at("  set connection conn-max 5 embryonic-conn-max x"),
                5,
                48,
                "embryonic-conn-max must be 0-2000000",
            ),
            (
                &at("  set connection random-sequence-number"),
                5,
                40,
                "expected 'enable' or 'disable'",
            ),
            (
                &at("  set connection random-sequence-number on"),
                5,
                41,
                "expected 'enable' or 'disable', found 'on'",
            ),
            (
                &at("  set connection timeout"),
                5,
                25,
                "expected 'embryonic', 'half-closed', 'idle' or 'dcd'",
            ),
            (
                &at("  set connection timeout idle"),
                5,
                30,
                "expected time as H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 0:61:00"),
                5,
                31,
                "invalid time '0:61:00', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 15"),
                5,
                31,
                "invalid time '15', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 0:00:-1"),
                5,
                31,
                "invalid time '0:00:-1', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 1193:00:01"),
                5,
                31,
                "time '1193:00:01' is beyond 1193:00:00",
            ),
            (
                &at("  set connection timeout embryonic 0:00:04"),
                5,
                36,
                "embryonic timeout must be at least 0:00:05 (or 0:00:00 for never)",
            ),
            (
                &at("  set connection timeout half-closed 0:00:29"),
                5,
                38,
                "half-closed timeout must be at least 0:00:30 (or 0:00:00 for never)",
            ),
            (
                &at("  set connection timeout dcd 0:00:00"),
                5,
                30,
                "dcd retry interval must be 0:00:01-24:00:00",
            ),
            (
                &at("  set connection timeout dcd 24:00:01 5"),
                5,
                30,
                "dcd retry interval must be 0:00:01-24:00:00",
            ),
            (
                &at("  set connection timeout dcd 0:00:15 0"),
                5,
                38,
                "dcd max retries must be 1-255",
            ),
            (
                &at("  set connection timeout dcd 0:00:15 256"),
                5,
                38,
                "dcd max retries must be 1-255",
            ),
            (
                &at("  set connection timeout idle 0:01:00 bogus"),
                5,
                39,
                "expected 'embryonic', 'half-closed', 'idle' or 'dcd', found 'bogus'",
            ),
            (
                &at("  set connection advanced-options"),
                5,
                34,
                "expected 'tcp-state-bypass' or a tcp-map name",
            ),
            (
                &at("  set connection advanced-options MYMAP"),
                5,
                35,
                "tcp-map 'MYMAP' is not defined",
            ),
            (
                &at("  set connection advanced-options tcp-state-bypass x"),
                5,
                52,
                "unexpected 'x' after end of command",
            ),
            (
                &at("  set connection decrement-ttl now"),
                5,
                32,
                "unexpected 'now' after end of command",
            ),
            (&at("  inspect"), 5, 10, "expected inspection name"),
            (
                &at("  no inspect ftp"),
                5,
                14,
                "no such inspect 'ftp' in class 'C'",
            ),
        ]);
    }

    /// The ASA's limits: 255 class-maps, 64 policy-maps, 63 classes in a
    /// policy-map besides class-default. Each limit is reached, then
    /// refused one past it.
    #[test]
    fn class_and_policy_map_limits() {
        let class_maps = |n: usize| -> String {
            (0..n)
                .map(|i| format!("class-map C{i}\n match any\n"))
                .collect()
        };
        cfg(&class_maps(255));
        assert_eq!(
            err(&class_maps(256)),
            (
                511,
                11,
                "a configuration holds at most 255 class-maps".into()
            )
        );
        let policy_maps =
            |n: usize| -> String { (0..n).map(|i| format!("policy-map P{i}\n")).collect() };
        cfg(&policy_maps(64));
        assert_eq!(
            err(&policy_maps(65)),
            (
                65,
                12,
                "a configuration holds at most 64 policy-maps".into()
            )
        );
        let classes = |n: usize| -> String {
            let mut t = class_maps(n);
            t.push_str("policy-map P\n class class-default\n  set connection conn-max 5\n");
            for i in 0..n {
                t.push_str(&format!(" class C{i}\n  set connection conn-max 10\n"));
            }
            t
        };
        let c = cfg(&classes(63));
        assert_eq!(c.policy_maps[0].classes.len(), 64, "63 and class-default");
        let text = classes(64);
        let line = text.lines().count() - 1;
        assert_eq!(
            err(&text),
            (
                line,
                8,
                "a policy-map holds at most 63 classes besides class-default".into()
            )
        );
    }
}
