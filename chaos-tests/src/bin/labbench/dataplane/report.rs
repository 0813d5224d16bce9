//! The dataplane benchmark's report: the JSON summary with its ratios,
//! and the table on stderr.

use serde_json::{Value, json};

use super::{Args, CONNECTS, PING_INTERVAL, PINGS, Results, UdpRun, percentile};
use crate::{cell, median, ratio};

pub(super) fn loss_percent(r: &UdpRun) -> f64 {
    if r.sent == 0 {
        0.0
    } else {
        100.0 * (r.sent.saturating_sub(r.received)) as f64 / r.sent as f64
    }
}

pub(super) fn tcp_median(res: &Results, id: &str) -> Option<f64> {
    res.tcp
        .iter()
        .find(|(c, _)| c.id() == id)
        .and_then(|(_, v)| median(&v.iter().map(|r| r.gbps).collect::<Vec<_>>()))
}

pub(super) fn udp_median(res: &Results, id: &str) -> Option<f64> {
    res.udp
        .iter()
        .find(|(c, _)| c.id() == id)
        .and_then(|(_, v)| median(&v.iter().map(|r| r.delivered_pps).collect::<Vec<_>>()))
}

pub(super) fn opt(v: Option<f64>) -> Value {
    v.map(|x| json!((x * 1000.0).round() / 1000.0))
        .unwrap_or(Value::Null)
}

pub(super) fn summarize(a: &Args, res: &Results, machine_start: Value) -> Value {
    let mut tcp = serde_json::Map::new();
    for (c, runs) in &res.tcp {
        let g: Vec<f64> = runs.iter().map(|r| r.gbps).collect();
        let cpu: Vec<f64> = runs.iter().filter_map(|r| r.rampart_cpu_percent).collect();
        tcp.insert(
            c.id(),
            json!({
                "median_gbps": opt(median(&g)),
                "gbps": g,
                "retransmits": runs.iter().map(|r| r.retransmits).collect::<Vec<_>>(),
                "sender_cpu_percent": runs.iter().map(|r| r.sender_cpu_percent).collect::<Vec<_>>(),
                "receiver_cpu_percent": runs.iter().map(|r| r.receiver_cpu_percent).collect::<Vec<_>>(),
                "rampart_cpu_percent": cpu,
                "rampart_frames": runs.iter().filter_map(|r| r.rampart_frames).collect::<Vec<_>>(),
                "offloads": if c.offloads_off { "off" } else { "on" },
            }),
        );
    }
    let mut udp = serde_json::Map::new();
    for (c, runs) in &res.udp {
        let d: Vec<f64> = runs.iter().map(|r| r.delivered_pps).collect();
        udp.insert(
            c.id(),
            json!({
                "median_delivered_pps": opt(median(&d)),
                "delivered_pps": d,
                "sent_pps": runs.iter().map(|r| r.sent_pps).collect::<Vec<_>>(),
                "sent": runs.iter().map(|r| r.sent).collect::<Vec<_>>(),
                "received": runs.iter().map(|r| r.received).collect::<Vec<_>>(),
                "seconds": runs.iter().map(|r| r.seconds).collect::<Vec<_>>(),
                "loss_percent": runs.iter().map(loss_percent).collect::<Vec<_>>(),
                "rampart_cpu_percent": runs.iter().filter_map(|r| r.rampart_cpu_percent).collect::<Vec<_>>(),
                "rampart_frames": runs.iter().filter_map(|r| r.rampart_frames).collect::<Vec<_>>(),
                "rampart_kernel_rx_drops": runs.iter().filter_map(|r| r.rampart_kernel_drops).collect::<Vec<_>>(),
            }),
        );
    }
    let mut paced = serde_json::Map::new();
    for (c, runs) in &res.udp_paced {
        if runs.is_empty() {
            continue;
        }
        let loss: Vec<f64> = runs.iter().map(|(_, r)| loss_percent(r)).collect();
        paced.insert(
            c.id(),
            json!({
                "rate_pps": runs.iter().map(|(rate, _)| *rate).collect::<Vec<_>>(),
                "sent_pps": runs.iter().map(|(_, r)| r.sent_pps).collect::<Vec<_>>(),
                "delivered_pps": runs.iter().map(|(_, r)| r.delivered_pps).collect::<Vec<_>>(),
                "loss_percent": loss,
                "median_loss_percent": opt(median(&loss)),
                "rampart_kernel_rx_drops": runs.iter().filter_map(|(_, r)| r.rampart_kernel_drops).collect::<Vec<_>>(),
            }),
        );
    }
    let paced_loss = paced
        .get("rampart/inspected/offloads-on")
        .and_then(|v| v["median_loss_percent"].as_f64());
    let mut lat = serde_json::Map::new();
    for (c, runs) in &res.latency {
        let avg: Vec<f64> = runs.iter().map(|r| r.ping_ms[1]).collect();
        let p50: Vec<f64> = runs
            .iter()
            .filter_map(|r| percentile(&r.connect_ms, 0.5))
            .collect();
        let p99: Vec<f64> = runs
            .iter()
            .filter_map(|r| percentile(&r.connect_ms, 0.99))
            .collect();
        lat.insert(
            c.id(),
            json!({
                "ping_avg_ms": opt(median(&avg)),
                "ping_min_avg_max_mdev_ms": runs.iter().map(|r| r.ping_ms.to_vec()).collect::<Vec<_>>(),
                "ping_lost": runs.iter().map(|r| r.ping_lost).collect::<Vec<_>>(),
                "pings": PINGS,
                "connect_p50_ms": opt(median(&p50)),
                "connect_p99_ms": opt(median(&p99)),
                "connects": CONNECTS,
                "connect_failed": runs.iter().map(|r| r.connect_failed).collect::<Vec<_>>(),
            }),
        );
    }
    // Each back end against the kernel bridge with nftables.
    let mut by_io = serde_json::Map::new();
    for (io, pre) in [
        ("ring", "rampart"),
        ("block-ring", "rampart-block-ring"),
        ("mmsg", "rampart-mmsg"),
    ] {
        let mut m = serde_json::Map::new();
        for offl in ["offloads-on", "offloads-off"] {
            let x = ratio(
                tcp_median(res, &format!("{pre}/inspected/{offl}")),
                tcp_median(res, &format!("bridge+nft/{offl}")),
            );
            if x.is_some() {
                m.insert(format!("tcp/{offl}"), opt(x));
            }
        }
        let x = ratio(
            udp_median(res, &format!("{pre}/inspected/offloads-on")),
            udp_median(res, "bridge+nft/offloads-on"),
        );
        if x.is_some() {
            m.insert("udp".into(), opt(x));
        }
        if !m.is_empty() {
            by_io.insert(io.into(), Value::Object(m));
        }
    }
    // Rampart against each nftables case, in the same offload state.
    let mut tcp_ratios = serde_json::Map::new();
    for id in [
        "bridge+nft/offloads-on",
        "bridge+nft/offloads-off",
        "routed+nft/offloads-on",
        "routed+nft/offloads-off",
    ] {
        let offl = &id[id.find('/').unwrap_or(0)..];
        let r = tcp_median(res, &format!("rampart/inspected{offl}"));
        if let Some(x) = ratio(r, tcp_median(res, id)) {
            tcp_ratios.insert(id.into(), opt(Some(x)));
        }
    }
    let u_in = udp_median(res, "rampart/inspected/offloads-on");
    let mut udp_ratios = serde_json::Map::new();
    for id in ["bridge+nft/offloads-on", "routed+nft/offloads-on"] {
        if let Some(x) = ratio(u_in, udp_median(res, id)) {
            udp_ratios.insert(id.into(), opt(Some(x)));
        }
    }
    let mut byp = serde_json::Map::new();
    for offl in ["offloads-on", "offloads-off"] {
        let x = ratio(
            tcp_median(res, &format!("rampart/inspected/{offl}")),
            tcp_median(res, &format!("rampart/bypass/{offl}")),
        );
        if x.is_some() {
            byp.insert(offl.into(), opt(x));
        }
    }
    // The headline compares, links in their natural state (offloads on),
    // with the kernel's transparent stateful bridge, else with the
    // router; without offload-on runs, in the offloads-off state.
    // Each headline names the baseline it was measured against: a run
    // without the first choice falls back, and says so.
    fn pick(
        m: &serde_json::Map<String, Value>,
        ids: &[&'static str],
    ) -> Option<(f64, &'static str)> {
        ids.iter()
            .find_map(|k| m.get(*k).and_then(Value::as_f64).map(|v| (v, *k)))
    }
    let head_tcp = pick(
        &tcp_ratios,
        &[
            "bridge+nft/offloads-on",
            "routed+nft/offloads-on",
            "bridge+nft/offloads-off",
            "routed+nft/offloads-off",
        ],
    );
    let head_udp = pick(
        &udp_ratios,
        &["bridge+nft/offloads-on", "routed+nft/offloads-on"],
    );
    let insp_byp = pick(&byp, &["offloads-on", "offloads-off"]);
    let value = |h: Option<(f64, &str)>| opt(h.map(|(v, _)| v));
    let against = |h: Option<(f64, &str)>| h.map_or(Value::Null, |(_, k)| Value::from(k));
    json!({
        "benchmark": "dataplane",
        "machine": machine_start,
        "loadavg_end": crate::machine()["loadavg"],
        "settings": {
            "reps": a.reps,
            "seconds": a.seconds,
            "tcp_streams": a.tcp_streams,
            "udp_flows": a.udp_flows,
            "udp_payload_bytes": a.udp_size,
            "rampart_workers": a.workers,
            "kernel_topologies": format!("{:?}", a.kernel).to_lowercase(),
            "offloads": format!("{:?}", a.offloads).to_lowercase(),
        },
        "tcp": tcp,
        "udp": udp,
        "udp_at_nftables_rate": paced,
        "latency": lat,
        "ratios": {
            "tcp_rampart_over_nftables": value(head_tcp),
            "tcp_rampart_over_nftables_baseline": against(head_tcp),
            "udp_rampart_over_nftables": value(head_udp),
            "udp_rampart_over_nftables_baseline": against(head_udp),
            "udp_loss_percent_at_nftables_rate": opt(paced_loss),
            "tcp_inspected_over_bypass": value(insp_byp),
            "tcp_inspected_over_bypass_offloads": against(insp_byp),
            "tcp_rampart_over": tcp_ratios,
            "udp_rampart_over": udp_ratios,
            "tcp_inspected_over_bypass_by_offloads": byp,
            "rampart_over_bridge_nft_by_io": by_io,
        },
    })
}

pub(super) fn print_table(a: &Args, res: &Results, s: &Value) {
    let runs = |v: &[f64], d: usize| {
        v.iter()
            .map(|x| format!("{x:.d$}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!();
    if !res.tcp.is_empty() {
        eprintln!(
            "TCP (iperf3, {} stream(s), {} s), median of {}:",
            a.tcp_streams, a.seconds, a.reps
        );
        eprintln!(
            "  {:<34} {:>8}  {:<22} rampart CPU %",
            "path", "Gbit/s", "runs"
        );
        for (c, r) in &res.tcp {
            let g: Vec<f64> = r.iter().map(|x| x.gbps).collect();
            let cpu: Vec<f64> = r.iter().filter_map(|x| x.rampart_cpu_percent).collect();
            eprintln!(
                "  {:<34} {:>8}  {:<22} {}",
                c.id(),
                cell(median(&g), 2),
                runs(&g, 2),
                runs(&cpu, 0)
            );
        }
    }
    if !res.udp.is_empty() {
        eprintln!(
            "UDP (udpblast, {}-byte payload, {} flow(s), {} s), median of {}:",
            a.udp_size, a.udp_flows, a.seconds, a.reps
        );
        eprintln!(
            "  {:<34} {:>12} {:>12}  {:<8} {:>12}  rampart CPU %",
            "path", "delivered/s", "sent/s", "loss %", "kernel drops"
        );
        for (c, r) in &res.udp {
            let d: Vec<f64> = r.iter().map(|x| x.delivered_pps).collect();
            let snt: Vec<f64> = r.iter().map(|x| x.sent_pps).collect();
            let loss: Vec<f64> = r.iter().map(loss_percent).collect();
            let cpu: Vec<f64> = r.iter().filter_map(|x| x.rampart_cpu_percent).collect();
            let drops: Vec<f64> = r
                .iter()
                .filter_map(|x| x.rampart_kernel_drops.map(|d| d as f64))
                .collect();
            eprintln!(
                "  {:<34} {:>12} {:>12}  {:<8} {:>12}  {}",
                c.id(),
                cell(median(&d), 0),
                cell(median(&snt), 0),
                cell(median(&loss), 2),
                cell(median(&drops), 0),
                runs(&cpu, 0)
            );
        }
    }
    if res.udp_paced.iter().any(|(_, v)| !v.is_empty()) {
        eprintln!("UDP paced at the rate bridge + nftables delivered in the same repetition:");
        eprintln!(
            "  {:<34} {:>12} {:>12}  {:<8} {:>12}",
            "path", "rate/s", "delivered/s", "loss %", "kernel drops"
        );
        for (c, r) in &res.udp_paced {
            let rate: Vec<f64> = r.iter().map(|(x, _)| *x as f64).collect();
            let d: Vec<f64> = r.iter().map(|(_, x)| x.delivered_pps).collect();
            let loss: Vec<f64> = r.iter().map(|(_, x)| loss_percent(x)).collect();
            let drops: Vec<f64> = r
                .iter()
                .filter_map(|(_, x)| x.rampart_kernel_drops.map(|d| d as f64))
                .collect();
            eprintln!(
                "  {:<34} {:>12} {:>12}  {:<8} {:>12}",
                c.id(),
                cell(median(&rate), 0),
                cell(median(&d), 0),
                cell(median(&loss), 2),
                cell(median(&drops), 0)
            );
        }
    }
    if !res.latency.is_empty() {
        eprintln!(
            "Latency ({PINGS} pings at {PING_INTERVAL} s, {CONNECTS} TCP connects), median of {}:",
            a.reps
        );
        eprintln!(
            "  {:<34} {:>12} {:>12} {:>14} {:>14}",
            "path", "ping avg ms", "ping max ms", "connect p50 ms", "connect p99 ms"
        );
        for (c, r) in &res.latency {
            let avg: Vec<f64> = r.iter().map(|x| x.ping_ms[1]).collect();
            let max: Vec<f64> = r.iter().map(|x| x.ping_ms[2]).collect();
            let p50: Vec<f64> = r
                .iter()
                .filter_map(|x| percentile(&x.connect_ms, 0.5))
                .collect();
            let p99: Vec<f64> = r
                .iter()
                .filter_map(|x| percentile(&x.connect_ms, 0.99))
                .collect();
            eprintln!(
                "  {:<34} {:>12} {:>12} {:>14} {:>14}",
                c.id(),
                cell(median(&avg), 3),
                cell(median(&max), 3),
                cell(median(&p50), 3),
                cell(median(&p99), 3)
            );
        }
    }
    let r = &s["ratios"];
    eprintln!("Ratios (medians):");
    eprintln!(
        "  Rampart / bridge+nftables by I/O back end: {}",
        r["rampart_over_bridge_nft_by_io"]
    );
    eprintln!(
        "  Rampart / nftables, TCP: {} (vs {})",
        cell(r["tcp_rampart_over_nftables"].as_f64(), 3),
        r["tcp_rampart_over"]
    );
    eprintln!(
        "  Rampart / nftables, UDP: {} (vs {})",
        cell(r["udp_rampart_over_nftables"].as_f64(), 3),
        r["udp_rampart_over"]
    );
    eprintln!(
        "  Rampart's UDP loss at nftables' rate: {} % (goal < 1)",
        cell(r["udp_loss_percent_at_nftables_rate"].as_f64(), 2)
    );
    eprintln!(
        "  inspected / bypass, TCP: {} (by offloads {})",
        cell(r["tcp_inspected_over_bypass"].as_f64(), 3),
        r["tcp_inspected_over_bypass_by_offloads"]
    );
}
