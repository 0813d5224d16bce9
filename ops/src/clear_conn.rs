//! `clear conn [address A] [port P]`, and the body of `POST
//! /v1/clear-conn` that carries it (docs/ops.md §1).

use std::net::IpAddr;

use rampart_dataplane::Engine;

use crate::show_conn::ConnFilter;

/// The body of `POST /v1/clear-conn`: the connections to clear, by address
/// and port, or every one with `"all": true`. A body that names none (empty,
/// `{}`) or holds a key the API does not know (`"adress"`) is refused: read
/// as the empty filter, it would clear every connection on every node of
/// the cluster. The CLI's `clear conn` without words clears all, as the
/// ASA's does, and says so in the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearRequest {
    /// Only connections with this address at either end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Only connections with this port at either end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Every connection (with neither `address` nor `port`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

impl ClearRequest {
    /// The request for `filter`: `all` for the empty one. It carries the
    /// filter's address and port alone: callers send no other filter
    /// ([`ConnFilter::is_address_port`]).
    pub fn of(filter: &ConnFilter) -> ClearRequest {
        ClearRequest {
            address: filter.address,
            port: filter.port,
            all: filter.address.is_none() && filter.port.is_none(),
        }
    }

    /// The filter a `POST /v1/clear-conn` body asks for, or why it is
    /// refused (the caller's fault: 400).
    pub fn parse(body: &[u8]) -> Result<ConnFilter, String> {
        let r: ClearRequest = match body.iter().all(u8::is_ascii_whitespace) {
            true => ClearRequest::default(),
            false => serde_json::from_slice(body)
                .map_err(|e| format!("the body is not a connection filter: {e}"))?,
        };
        let filter = ConnFilter::address_port(r.address, r.port);
        match (r.all, filter == ConnFilter::default()) {
            (true, true) | (false, false) => Ok(filter),
            (true, false) => {
                Err("\"all\" clears every connection: it takes no address or port".into())
            }
            (false, true) => Err(
                "the body names no connections: send {\"address\": A, \"port\": P}, or \
                 {\"all\": true} to clear every connection (of every node, in a cluster)"
                    .into(),
            ),
        }
    }
}

/// Remove the connections that pass `filter` and say how many, as the ASA
/// does: `3 connection(s) deleted.`
pub fn clear_conn(engine: &mut Engine, filter: &ConnFilter) -> String {
    let m = filter.resolve(&engine.config().interfaces);
    let n = engine.clear_conns(|e| m.matches(e));
    format!("{n} connection(s) deleted.\n")
}

/// The ASA's answer to `clear conn`, from the admin API's result.
pub fn render_clear(r: &crate::model::ClearResult) -> String {
    let mut out = format!("{} connection(s) deleted.\n", r.deleted);
    for p in &r.unreachable {
        out.push_str(&format!(
            "WARNING: node {p} did not answer; its connections were not cleared.\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::trace::{udp_frame, v4_pair};
    use rampart_dataplane::{EngineConfig, Instant};

    /// A misspelled key, or a body naming nothing, is refused; clearing
    /// everything takes `"all": true`, which the CLI sends for the empty
    /// filter. Before, `{"adress": …}` was the empty filter: every
    /// connection of every node cleared.
    #[test]
    fn a_clear_body_must_name_its_connections_or_say_all() {
        for bad in [
            &br#"{"adress":"198.18.1.10"}"#[..],
            br#"{"address":"198.18.1.10","prot":80}"#,
            b"",
            b"  \n",
            b"{}",
            br#"{"all":false}"#,
            br#"{"address":null,"port":null}"#,
            br#"{"all":true,"port":80}"#,
        ] {
            let e = ClearRequest::parse(bad).expect_err(&String::from_utf8_lossy(bad));
            assert!(!e.is_empty());
        }
        let e = ClearRequest::parse(br#"{"adress":"198.18.1.10"}"#).unwrap_err();
        assert!(e.contains("unknown field `adress`"), "{e}");
        assert_eq!(
            ClearRequest::parse(br#"{"all":true}"#),
            Ok(ConnFilter::default())
        );
        let f = ConnFilter::address_port(Some("198.18.1.10".parse().unwrap()), Some(80));
        assert_eq!(
            ClearRequest::parse(br#"{"address":"198.18.1.10","port":80}"#),
            Ok(f.clone())
        );
        // What the CLI sends reads back as its filter.
        for filter in [f, ConnFilter::default()] {
            let body = serde_json::to_vec(&ClearRequest::of(&filter)).unwrap();
            assert_eq!(ClearRequest::parse(&body), Ok(filter.clone()));
        }
        assert_eq!(
            serde_json::to_string(&ClearRequest::of(&ConnFilter::default())).unwrap(),
            r#"{"all":true}"#
        );
    }

    #[test]
    fn clears_by_address_and_reports_the_count() {
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [1; 4])).unwrap();
        let t = Instant::from_secs(1);
        for port in [1000, 1001, 1002] {
            let (c, s) = v4_pair(port, 53);
            eng.process(
                &mut udp_frame(&c, &s, b"q"),
                PacketMeta::default(),
                c.iface,
                t,
            );
        }
        let (mut c, s) = v4_pair(2000, 53);
        c.ip = "198.18.0.99".parse().unwrap();
        eng.process(
            &mut udp_frame(&c, &s, b"q"),
            PacketMeta::default(),
            c.iface,
            t,
        );
        let f = ConnFilter::address_port(Some("198.18.0.99".parse().unwrap()), None);
        assert_eq!(clear_conn(&mut eng, &f), "1 connection(s) deleted.\n");
        assert_eq!(eng.table().len(), 3);
        assert_eq!(
            clear_conn(&mut eng, &ConnFilter::default()),
            "3 connection(s) deleted.\n"
        );
        assert_eq!(
            clear_conn(&mut eng, &ConnFilter::default()),
            "0 connection(s) deleted.\n"
        );
    }
}
