//! Parse time of large policies, to show it grows linearly with the text:
//! one access-list of 2,000 and of 20,000 ACEs (the latter about 1 MiB,
//! the node's policy file limit), each ACE differing by its port, so every
//! new ACE is checked against the entries already there; and the same
//! sizes for the shapes that once cost a scan per line: ACEs inserted with
//! `line 1`, ACEs entered a second time, object-group members,
//! access-lists of one entry each and EtherType entries. The 20,000 case should take about ten
//! times the 2,000 case, not a hundred.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_asa::parse::parse_config;

/// A policy text of `n` lines of one shape.
type Shape = fn(usize) -> String;

const OBJECT: &str = "object network O\n host 198.18.0.1\n";

/// `n` distinct ACEs appended to access-list `A`.
fn appended(n: usize) -> String {
    let mut t = String::from(OBJECT);
    for i in 0..n {
        t += &format!("access-list A permit tcp object O object O eq {}\n", i + 1);
    }
    t
}

/// `n` distinct ACEs, each inserted before the first line.
fn inserted(n: usize) -> String {
    let mut t = String::from(OBJECT);
    for i in 0..n {
        t += &format!(
            "access-list A line 1 permit tcp object O object O eq {}\n",
            i + 1
        );
    }
    t
}

/// `n / 2` distinct ACEs, then each entered again, `inactive`.
fn reentered(n: usize) -> String {
    let mut t = String::from(OBJECT);
    for i in 0..n / 2 {
        t += &format!("access-list A permit tcp object O object O eq {}\n", i + 1);
    }
    for i in 0..n / 2 {
        t += &format!(
            "access-list A permit tcp object O object O eq {} inactive\n",
            i + 1
        );
    }
    t
}

/// One network object-group of `n` host members.
fn members(n: usize) -> String {
    let mut t = String::from("object-group network G\n");
    for i in 0..n {
        t += &format!(" network-object host 198.18.{}.{}\n", i / 250, i % 250 + 1);
    }
    t
}

/// `n` access-lists of one ACE each.
fn lists(n: usize) -> String {
    let mut t = String::from(OBJECT);
    for i in 0..n {
        t += &format!("access-list A{i} permit tcp object O object O eq 22\n");
    }
    t
}

/// One EtherType access-list of `n` entries.
fn ethertypes(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        t += &format!("access-list E ethertype deny {:x}\n", 0x0900 + i);
    }
    t
}

/// `n` object-groups, each named by an access-list line.
fn groups(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        t += &format!(
            "object-group network G{i}\n network-object host 198.18.{}.{}\n",
            i / 250,
            i % 250 + 1
        );
    }
    for i in 0..n {
        t += &format!("access-list A permit tcp object-group G{i} any eq 22\n");
    }
    t
}

/// `n` EtherType access-lists of one entry each.
fn ethertype_lists(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        t += &format!(
            "access-list E{i} ethertype deny {:x}\n",
            0x0900 + i % 0xf000
        );
    }
    t
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    let shapes: [(&str, Shape); 8] = [
        ("aces", appended),
        ("aces_line_1", inserted),
        ("aces_reentered", reentered),
        ("group_members", members),
        ("acls", lists),
        ("ethertype_entries", ethertypes),
        ("groups_named", groups),
        ("ethertype_acls", ethertype_lists),
    ];
    for (shape, text) in shapes {
        for n in [2_000usize, 20_000] {
            let text = text(n);
            g.bench_function(format!("{shape}/{n}"), |b| {
                b.iter(|| parse_config(black_box(&text)).expect("parses"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
