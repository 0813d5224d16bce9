//! `clear conn [address A] [port P]`.

use rampart_dataplane::Engine;

use crate::show_conn::ConnFilter;

/// Remove the connections that pass `filter` and say how many, as the ASA
/// does: `3 connection(s) deleted.`
pub fn clear_conn(engine: &mut Engine, filter: &ConnFilter) -> String {
    let n = engine.clear_conns(|e| filter.matches(e));
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
        let f = ConnFilter {
            address: Some("198.18.0.99".parse().unwrap()),
            port: None,
        };
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
