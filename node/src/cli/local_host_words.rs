//! The words after `show local-host`, as the ASA takes them
//! (docs/asa-behaviour.md §3.5): `[IP] [all] [brief] [detail] [connection
//! {tcp|udp|embryonic} N[-M]]…`, keywords abbreviated as on the ASA.

use std::net::IpAddr;

use rampart_ops::show_local_host::{CountRange, HostFilter};

use super::{Resolved, ambiguous, resolve};

/// What the words after `show local-host` ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalHostWords {
    /// The hosts asked for.
    pub hosts: HostFilter,
    /// `detail`: each connection as `show conn detail` prints it.
    pub detail: bool,
}

const KEYWORDS: [&str; 4] = ["all", "brief", "detail", "connection"];
const KINDS: [&str; 3] = ["tcp", "udp", "embryonic"];

/// Parse the words of `show local-host`. `all` changes nothing: Rampart's
/// table holds only connections through the node. `connection K N` is `N`
/// or more connections of kind `K`, `N-M` a range; each kind at most once.
pub fn local_host_words(words: &[String]) -> Result<LocalHostWords, String> {
    let verb = "show local-host";
    let mut w = LocalHostWords::default();
    let mut it = words.iter().map(String::as_str);
    while let Some(word) = it.next() {
        if let Ok(a) = word.parse::<IpAddr>() {
            if w.hosts.address.is_some() {
                return Err("% Invalid input: one address at most".into());
            }
            w.hosts.address = Some(a);
            continue;
        }
        match resolve(word, &KEYWORDS) {
            Resolved::One("all") => {}
            Resolved::One("brief") => w.hosts.brief = true,
            Resolved::One("detail") => w.detail = true,
            Resolved::One(_) => {
                let kind = it.next().ok_or_else(|| {
                    format!("% Incomplete command: {verb} connection {{tcp|udp|embryonic}} N[-M]")
                })?;
                let kind = match resolve(kind, &KINDS) {
                    Resolved::One(k) => k,
                    Resolved::Ambiguous(hits) => {
                        return Err(ambiguous(&[format!("{verb} connection")], kind, &hits));
                    }
                    Resolved::None => {
                        return Err(format!(
                            "% Invalid input: \"{}\" (after connection: tcp, udp, embryonic)",
                            kind.escape_debug()
                        ));
                    }
                };
                let n = it.next().ok_or_else(|| {
                    format!("% Incomplete command: {verb} connection {kind} needs N or N-M")
                })?;
                let range = CountRange::parse(n).map_err(|e| format!("% Invalid count: {e}"))?;
                let slot = match kind {
                    "tcp" => &mut w.hosts.tcp,
                    "udp" => &mut w.hosts.udp,
                    _ => &mut w.hosts.embryonic,
                };
                if slot.replace(range).is_some() {
                    return Err(format!("% Invalid input: connection {kind} given twice"));
                }
            }
            Resolved::Ambiguous(hits) => return Err(ambiguous(&[verb.into()], word, &hits)),
            Resolved::None => {
                return Err(format!(
                    "% Invalid input: \"{}\" (after {verb}: an IP address, {})",
                    word.escape_debug(),
                    KEYWORDS.join(", ")
                ));
            }
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Result<LocalHostWords, String> {
        let v: Vec<String> = line.split_whitespace().map(String::from).collect();
        local_host_words(&v)
    }

    #[test]
    fn local_host_words_parse_as_on_the_asa() {
        assert_eq!(words(""), Ok(LocalHostWords::default()));
        let w = words("198.18.0.10 all b det conn tcp 10-20 c emb 5").unwrap();
        assert_eq!(w.hosts.address, Some("198.18.0.10".parse().unwrap()));
        assert!(w.hosts.brief && w.detail);
        assert_eq!(
            w.hosts.tcp,
            Some(CountRange {
                min: 10,
                max: Some(20)
            })
        );
        assert_eq!(w.hosts.embryonic, Some(CountRange { min: 5, max: None }));
        assert_eq!(w.hosts.udp, None);
        let w = words("2001:db8::1").unwrap();
        assert_eq!(w.hosts.address, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn bad_words_are_refused() {
        for (line, why) in [
            ("x", "% Invalid input: \"x\""),
            ("198.18.0.1 198.18.0.2", "one address at most"),
            ("connection", "Incomplete"),
            ("connection icmp 1", "after connection"),
            ("connection tcp", "needs N or N-M"),
            ("connection tcp 9-1", "runs backwards"),
            ("connection tcp many", "Invalid count"),
            ("connection tcp 1 connection tcp 2", "given twice"),
        ] {
            let e = words(line).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
