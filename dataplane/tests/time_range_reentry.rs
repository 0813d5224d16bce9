//! Two deny entries that differ only by their time-range: the operator
//! means both windows. Replacing the first with the second would leave
//! weekday nights without the deny, and the permit after it would pass
//! ssh then; the configuration is refused instead (docs/asa-behaviour.md
//! §2.10).

use rampart_dataplane::policy::parse_config;

const TWO_DENIES: &str = "\
time-range NIGHT
 periodic daily 0:00 to 6:00
time-range WEEKEND
 periodic weekend 0:00 to 23:59
access-list IN extended deny tcp any any eq ssh time-range NIGHT
access-list IN extended deny tcp any any eq ssh time-range WEEKEND
access-list IN extended permit tcp any any
access-group IN in interface inside
";

#[test]
fn a_second_deny_with_another_time_range_is_refused_not_a_replacement() {
    let err = match parse_config(TWO_DENIES) {
        Ok(parsed) => panic!(
            "accepted with {} entries: {:?}",
            parsed.config.access_lists[0].lines.len(),
            parsed.config.access_lists[0].lines
        ),
        Err(e) => e,
    };
    let first = &err.0[0];
    assert_eq!((first.line, first.column), (6, 49), "{err}");
    assert!(
        first
            .message
            .contains("has this entry with time-range NIGHT (line 5)"),
        "{err}"
    );
}
