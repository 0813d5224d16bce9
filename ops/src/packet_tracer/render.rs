//! `packet-tracer`'s answer printed as the ASA prints it: the phases, then
//! the result; or the same as XML (`packet-tracer … xml`).

use crate::model::{PacketTrace, TracePhase};

/// What the phase prints under `Additional Information:`: its
/// information, and with `detailed` its details.
fn extra(p: &TracePhase, detailed: bool) -> impl Iterator<Item = &String> {
    let detail: &[String] = if detailed { &p.detail } else { &[] };
    p.info.iter().chain(detail)
}

/// The ASA's text; `detailed` adds each phase's details.
pub fn render_text(t: &PacketTrace, detailed: bool) -> String {
    let mut out = String::new();
    for p in &t.phases {
        out.push_str(&format!("Phase: {}\nType: {}\n", p.phase, p.kind));
        if p.subtype.is_empty() {
            out.push_str("Subtype:\n");
        } else {
            out.push_str(&format!("Subtype: {}\n", p.subtype));
        }
        out.push_str(&format!("Result: {}\nConfig:\n", p.result));
        for l in &p.config {
            out.push_str(&format!("{l}\n"));
        }
        out.push_str("Additional Information:\n");
        for l in extra(p, detailed) {
            out.push_str(&format!("{l}\n"));
        }
        out.push('\n');
    }
    out.push_str("Result:\n");
    for (k, v) in result_lines(t) {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

fn result_lines(t: &PacketTrace) -> Vec<(&'static str, &str)> {
    let mut r = vec![
        ("input-interface", t.input_interface.as_str()),
        ("input-status", &t.input_status),
        ("input-line-status", &t.input_line_status),
        ("output-interface", &t.output_interface),
        ("output-status", &t.output_status),
        ("output-line-status", &t.output_line_status),
        ("Action", &t.action),
    ];
    if let Some(d) = &t.drop_reason {
        r.push(("Drop-reason", d));
    }
    r
}

/// Text as XML character data.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The XML form (`packet-tracer … xml`): a `<Phase>` element per phase,
/// then `<result>`.
pub fn render_xml(t: &PacketTrace, detailed: bool) -> String {
    let mut out = String::new();
    for p in &t.phases {
        let join = |lines: Vec<&String>| {
            escaped(
                &lines
                    .into_iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        };
        out.push_str(&format!(
            "<Phase>\n<id>{}</id>\n<type>{}</type>\n<subtype>{}</subtype>\n<result>{}</result>\n\
             <config>{}</config>\n<extra>{}</extra>\n</Phase>\n",
            p.phase,
            escaped(&p.kind),
            escaped(&p.subtype),
            escaped(&p.result),
            join(p.config.iter().collect()),
            join(extra(p, detailed).collect()),
        ));
    }
    out.push_str("<result>\n");
    for (k, v) in result_lines(t) {
        let tag = k.to_ascii_lowercase();
        out.push_str(&format!("<{tag}>{}</{tag}>\n", escaped(v)));
    }
    out.push_str("</result>\n");
    out
}
