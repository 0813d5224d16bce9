use super::{REASON_CHECKSUM, REASON_MAP_WITH_BYPASS, REASON_QUEUE_LIMIT};
use crate::ast::*;
use crate::parse::test_support::*;
use crate::parse_config;
use crate::render::render;

/// A class C of policy-map P that applies tcp-map M (line 5), then `text`.
fn with_class(text: &str) -> String {
    format!(
        "class-map C\n match port tcp eq 179\npolicy-map P\n class C\n  set connection advanced-options M\n{text}"
    )
}

fn map(text: &str) -> TcpMap {
    let c = cfg(&format!("tcp-map M\n{text}"));
    assert_eq!(c.tcp_maps.len(), 1);
    c.tcp_maps[0].clone()
}

#[test]
fn every_sub_command_sets_its_field() {
    let m = map(
        " checksum-verification\n exceed-mss drop\n queue-limit 10 timeout 5\n reserved-bits drop\n syn-data drop\n synack-data allow\n tcp-options range 19 19 allow\n tcp-options range 9 255 drop\n tcp-options selective-ack clear\n tcp-options timestamp clear\n tcp-options window-scale clear\n no ttl-evasion-protection\n urgent-flag allow\n invalid-ack drop\n seq-past-window drop\n window-variation allow\n no check-retransmission",
    );
    assert_eq!(
        m,
        TcpMap {
            name: "M".into(),
            checksum_verification: true,
            exceed_mss_drop: true,
            queue_limit: Some(QueueLimit {
                packets: 10,
                timeout_secs: Some(5)
            }),
            reserved_bits: TcpOptionAction::Drop,
            syn_data_drop: true,
            synack_data_allow: true,
            selective_ack_clear: true,
            timestamp_clear: true,
            window_scale_clear: true,
            ranges: vec![
                TcpOptionRange {
                    lower: 19,
                    upper: 19,
                    action: TcpOptionAction::Allow
                },
                TcpOptionRange {
                    lower: 9,
                    upper: 255,
                    action: TcpOptionAction::Drop
                },
            ],
            ttl_evasion_protection_off: true,
            urgent_flag_allow: true,
        }
    );
}

#[test]
fn no_forms_and_default_values_give_the_default_map() {
    let set = " checksum-verification\n exceed-mss drop\n queue-limit 10\n reserved-bits clear\n syn-data drop\n synack-data allow\n tcp-options range 19 19 allow\n tcp-options selective-ack clear\n tcp-options timestamp clear\n tcp-options window-scale clear\n no ttl-evasion-protection\n urgent-flag allow\n";
    let unset = " no checksum-verification\n no exceed-mss\n no queue-limit\n no reserved-bits clear\n no syn-data\n no synack-data allow\n no tcp-options range 19 19\n no tcp-options selective-ack\n no tcp-options timestamp clear\n no tcp-options window-scale\n ttl-evasion-protection\n no urgent-flag";
    assert_eq!(map(&format!("{set}{unset}")), TcpMap::new("M"));
    let defaults = " exceed-mss allow\n reserved-bits allow\n syn-data allow\n synack-data drop\n tcp-options selective-ack allow\n urgent-flag clear\n ttl-evasion-protection";
    assert_eq!(map(defaults), TcpMap::new("M"));
}

#[test]
fn a_map_entered_twice_is_edited_and_a_range_reentered_changes_in_place() {
    let m = map(
        " tcp-options range 9 255 allow\n tcp-options range 19 19 drop\nclass-map X\n match any\ntcp-map M\n syn-data drop\n tcp-options range 9 255 clear",
    );
    assert!(m.syn_data_drop);
    assert_eq!(
        m.ranges
            .iter()
            .map(|r| (r.lower, r.upper, r.action))
            .collect::<Vec<_>>(),
        vec![
            (9, 255, TcpOptionAction::Clear),
            (19, 19, TcpOptionAction::Drop)
        ]
    );
}

#[test]
fn unenforceable_and_bad_lines_are_refused_at_their_column() {
    // In a map no class applies, the settings Rampart cannot honour change
    // nothing and are listed, as the whole block was before tcp-maps were
    // read (an imported configuration keeps loading); their `no` form, or
    // `no tcp-map`, takes them back before a class applies the map.
    let unused = "tcp-map M\n check-retransmission\n invalid-ack allow\n seq-past-window allow\n window-variation drop\n tcp-options md5 allow\n tcp-options mss drop";
    let listed = ignored(unused);
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|(_, why)| why.contains("no class applies"))
    );
    let taken_back = format!(
        "{unused}\n no check-retransmission\n invalid-ack drop\n no seq-past-window\n window-variation allow\n no tcp-options md5\n no tcp-options mss{}",
        "\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M"
    );
    assert!(parse_config(&taken_back).is_ok());
    let removed = format!(
        "{unused}\nno tcp-map M\ntcp-map M\n urgent-flag allow{}",
        "\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M"
    );
    assert!(parse_config(&removed).is_ok());
    check_errors(&[
        (
            "tcp-map M\n frobnicate",
            2,
            2,
            "unknown tcp-map command 'frobnicate'",
        ),
        (
            "tcp-map M\n invalid-ack allow\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            14,
            "invalid-ack allow is not supported: Rampart checks windows strictly, in a cluster too; use 'set connection advanced-options tcp-state-bypass' for traffic that needs it",
        ),
        (
            "tcp-map M\n seq-past-window allow\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            18,
            "seq-past-window allow is not supported: Rampart checks windows strictly, in a cluster too; use 'set connection advanced-options tcp-state-bypass' for traffic that needs it",
        ),
        (
            "tcp-map M\n check-retransmission\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            2,
            "check-retransmission is not supported: Rampart keeps no copy of the data a connection sent to compare a retransmission with",
        ),
        (
            "tcp-map M\n window-variation drop\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            19,
            "window-variation drop is not supported: Rampart does not judge changes of the advertised window",
        ),
        (
            "tcp-map M\n exceed-mss clear",
            2,
            13,
            "expected 'allow' or 'drop', found 'clear'",
        ),
        (
            "tcp-map M\n urgent-flag drop",
            2,
            14,
            "expected 'allow' or 'clear', found 'drop'",
        ),
        (
            "tcp-map M\n tcp-options timestamp drop",
            2,
            24,
            "expected 'allow' or 'clear', found 'drop'",
        ),
        (
            "tcp-map M\n reserved-bits",
            2,
            15,
            "expected 'allow', 'clear', 'drop'",
        ),
        (
            "tcp-map M\n tcp-options mss allow\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            14,
            "tcp-options mss is not supported: no source at hand says what the ASA does with it; use 'tcp-options range' for option kinds 6, 7 and 9-255",
        ),
        (
            "tcp-map M\n tcp-options md5 clear\nclass-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options M",
            2,
            14,
            "tcp-options md5 is not supported: no source at hand says what the ASA does with it; use 'tcp-options range' for option kinds 6, 7 and 9-255",
        ),
        (
            "tcp-map M\n tcp-options mss clear",
            2,
            18,
            "expected 'allow' or 'drop', found 'clear'",
        ),
        (
            "tcp-map M\n tcp-options range 8 8 allow",
            2,
            20,
            "lower option kind must be 6, 7 or 9-255, found '8'",
        ),
        (
            "tcp-map M\n tcp-options range 9 256 allow",
            2,
            22,
            "upper option kind must be 6, 7 or 9-255, found '256'",
        ),
        (
            "tcp-map M\n tcp-options range 30 19 allow",
            2,
            23,
            "upper option kind 19 is below the lower one, 30",
        ),
        (
            "tcp-map M\n no tcp-options range 19 19",
            2,
            23,
            "no such tcp-options range 19 19",
        ),
        (
            "tcp-map M\n queue-limit 251",
            2,
            14,
            "queue-limit must be 1-250, found '251'",
        ),
        (
            "tcp-map M\n queue-limit 0",
            2,
            14,
            "queue-limit must be 1-250, found '0'",
        ),
        (
            "tcp-map M\n queue-limit 3 timeout 21",
            2,
            24,
            "timeout must be 1-20, found '21'",
        ),
        (
            "tcp-map M\n syn-data drop now",
            2,
            16,
            "unexpected 'now' after end of command",
        ),
        ("no tcp-map M", 1, 12, "no such tcp-map 'M'"),
    ]);
}

#[test]
fn advanced_options_name_a_map_that_may_come_later() {
    let c = cfg(&with_class("tcp-map M\n tcp-options range 19 19 allow"));
    assert_eq!(c.policy_maps[0].classes[0].tcp_map.as_deref(), Some("M"));
    assert_eq!(
        err(&with_class("")),
        (5, 35, "tcp-map 'M' is not defined".to_string())
    );
    // Bypass and a map are two lines of one class.
    let c = cfg(&with_class(
        "  set connection advanced-options tcp-state-bypass\ntcp-map M",
    ));
    let k = &c.policy_maps[0].classes[0];
    assert!(k.connection.tcp_state_bypass);
    assert_eq!(k.tcp_map.as_deref(), Some("M"));
    // Its `no` form takes the map (and the reference) away.
    let c = cfg(&with_class("  no set connection advanced-options M"));
    assert_eq!(c.policy_maps[0].classes[0].tcp_map, None);
    assert_eq!(
        err(&with_class(
            "  no set connection advanced-options N\ntcp-map M"
        )),
        (6, 38, "class 'C' has no advanced-options 'N'".to_string())
    );
}

#[test]
fn a_map_in_use_cannot_be_removed() {
    assert_eq!(
        err(&with_class("tcp-map M\nno tcp-map M")),
        (
            7,
            12,
            "tcp-map 'M' is in use by class 'C' of policy-map 'P'".to_string()
        )
    );
    // Unused, it goes; once the class lets go of it, it may go too.
    assert!(
        cfg("tcp-map M\n syn-data drop\nno tcp-map M")
            .tcp_maps
            .is_empty()
    );
    let c = cfg(&with_class(
        "tcp-map M\npolicy-map P\n class C\n  no set connection advanced-options M\nno tcp-map M",
    ));
    assert!(c.tcp_maps.is_empty());
}

#[test]
fn lines_without_effect_are_listed() {
    assert_eq!(
        ignored("tcp-map M\n checksum-verification\n queue-limit 5 timeout 3\n syn-data drop"),
        vec![(2, REASON_CHECKSUM), (3, REASON_QUEUE_LIMIT)]
    );
}

/// A map beside `tcp-state-bypass` has no effect: its line is listed,
/// once, whichever of the two lines comes first; without bypass, or once
/// bypass is removed, it is not.
#[test]
fn a_map_beside_bypass_is_listed_as_without_effect() {
    let map = "tcp-map M\n urgent-flag allow\n";
    assert_eq!(
        ignored(&with_class(&format!(
            "  set connection advanced-options tcp-state-bypass\n{map}"
        ))),
        vec![(5, REASON_MAP_WITH_BYPASS)]
    );
    let text = format!(
        "class-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options tcp-state-bypass\n  set connection advanced-options M\n{map}"
    );
    assert_eq!(ignored(&text), vec![(6, REASON_MAP_WITH_BYPASS)]);
    let p = parsed(&text);
    assert_eq!(p.ignored[0].text, "set connection advanced-options M");
    assert!(ignored(&with_class(map)).is_empty());
    let removed = with_class(&format!(
        "  set connection advanced-options tcp-state-bypass\n  no set connection advanced-options tcp-state-bypass\n{map}"
    ));
    assert!(ignored(&removed).is_empty());
}

#[test]
fn maps_render_their_non_default_lines_before_the_classes_and_round_trip() {
    let text = with_class(
        "  set connection random-sequence-number disable\ntcp-map M\n tcp-options range 19 19 allow\n urgent-flag clear\n no ttl-evasion-protection\n queue-limit 4\n reserved-bits clear",
    );
    let c = cfg(&text);
    let out = render(&c);
    assert_eq!(
        out,
        "tcp-map M\n  queue-limit 4\n  reserved-bits clear\n  tcp-options range 19 19 allow\n  no ttl-evasion-protection\n!\n\
         class-map C\n match port tcp eq bgp\n!\n\
         policy-map P\n class C\n  set connection random-sequence-number disable\n  set connection advanced-options M\n!\n"
    );
    assert_eq!(cfg(&out), c);
    let full = map(
        " checksum-verification\n exceed-mss drop\n queue-limit 10 timeout 5\n reserved-bits drop\n syn-data drop\n synack-data allow\n tcp-options range 19 19 allow\n tcp-options range 6 7 drop\n tcp-options selective-ack clear\n tcp-options timestamp clear\n tcp-options window-scale clear\n no ttl-evasion-protection\n urgent-flag allow",
    );
    let config = Config {
        tcp_maps: vec![full],
        ..Config::default()
    };
    assert_eq!(cfg(&render(&config)), config);
}
