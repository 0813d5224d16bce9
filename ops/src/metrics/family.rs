//! Metric families built at scrape time from copied counters ("const
//! metrics"): each family is declared once as a [`Spec`] (name, help,
//! type, label names), which gives both the registry's descriptors and the
//! family filled from a snapshot, so the two cannot disagree.

use std::collections::BTreeMap;

use prometheus::core::Desc;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

/// Family type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter (name ends in `_total`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram.
    Histogram,
}

/// A declared family.
#[derive(Debug)]
pub struct Spec {
    /// Full name (`rampart_…`).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Type.
    pub kind: Kind,
    /// Label names.
    pub labels: &'static [&'static str],
}

impl Spec {
    /// The registry descriptor.
    pub fn desc(&self) -> Desc {
        Desc::new(
            self.name.to_string(),
            self.help.to_string(),
            self.labels.iter().map(|l| l.to_string()).collect(),
            Default::default(),
        )
        .expect("family specs are valid metric names")
    }
}

/// Families being filled for one scrape.
#[derive(Debug, Default)]
pub struct Families {
    by_name: BTreeMap<&'static str, MetricFamily>,
}

fn labels(spec: &Spec, values: &[&str]) -> Vec<LabelPair> {
    debug_assert_eq!(spec.labels.len(), values.len(), "{}", spec.name);
    spec.labels
        .iter()
        .zip(values)
        .map(|(n, v)| {
            let mut l = LabelPair::default();
            l.set_name(n.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

impl Families {
    fn family(&mut self, spec: &'static Spec) -> &mut MetricFamily {
        self.by_name.entry(spec.name).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(spec.name.to_string());
            f.set_help(spec.help.to_string());
            f.set_field_type(match spec.kind {
                Kind::Counter => MetricType::COUNTER,
                Kind::Gauge => MetricType::GAUGE,
                Kind::Histogram => MetricType::HISTOGRAM,
            });
            f
        })
    }

    /// One counter sample.
    pub fn counter(&mut self, spec: &'static Spec, values: &[&str], v: u64) {
        self.counter_f64(spec, values, v as f64);
    }

    /// One counter sample with a fractional value (seconds).
    pub fn counter_f64(&mut self, spec: &'static Spec, values: &[&str], v: f64) {
        debug_assert_eq!(spec.kind, Kind::Counter);
        let mut m = Metric::default();
        m.set_label(labels(spec, values));
        let mut c = Counter::default();
        c.set_value(v);
        m.set_counter(c);
        self.family(spec).mut_metric().push(m);
    }

    /// One gauge sample.
    pub fn gauge(&mut self, spec: &'static Spec, values: &[&str], v: f64) {
        debug_assert_eq!(spec.kind, Kind::Gauge);
        let mut m = Metric::default();
        m.set_label(labels(spec, values));
        let mut g = Gauge::default();
        g.set_value(v);
        m.set_gauge(g);
        self.family(spec).mut_metric().push(m);
    }

    /// One histogram: per-bucket counts (not cumulative) with their upper
    /// bounds; a last count beyond the bounds goes to `+Inf` only.
    pub fn histogram(
        &mut self,
        spec: &'static Spec,
        values: &[&str],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        debug_assert_eq!(spec.kind, Kind::Histogram);
        let mut m = Metric::default();
        m.set_label(labels(spec, values));
        let mut h = Histogram::default();
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(bounds.len());
        for (i, &b) in bounds.iter().enumerate() {
            cumulative = cumulative.saturating_add(counts.get(i).copied().unwrap_or(0));
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(b);
            bucket.set_cumulative_count(cumulative);
            buckets.push(bucket);
        }
        let total = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        h.set_bucket(buckets);
        h.set_sample_count(total);
        h.set_sample_sum(sum);
        m.set_histogram(h);
        self.family(spec).mut_metric().push(m);
    }

    /// The families, by name.
    pub fn into_vec(self) -> Vec<MetricFamily> {
        self.by_name.into_values().collect()
    }
}
