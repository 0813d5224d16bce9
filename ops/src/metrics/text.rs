//! Reading samples back out of the text exposition (tests, and the CLI's
//! `--metrics` checks): `name{k="v",...} value` lines.

/// The value of the sample `name` whose labels include all of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let has = |k: &str, v: &str| {
            rest.split(',')
                .any(|kv| kv.split_once('=') == Some((k, &format!("\"{v}\""))))
        };
        labels
            .iter()
            .all(|(k, v)| has(k, v))
            .then(|| value.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_name_and_labels() {
        let t = "# HELP x y\n# TYPE x counter\nx{a=\"1\",b=\"2\"} 5\nx{a=\"1\",b=\"3\"} 7\ny 1.5\n";
        assert_eq!(sample(t, "x", &[("b", "3")]), Some(7.0));
        assert_eq!(sample(t, "x", &[("a", "1"), ("b", "2")]), Some(5.0));
        assert_eq!(sample(t, "y", &[]), Some(1.5));
        assert_eq!(sample(t, "x", &[("b", "4")]), None);
        assert_eq!(sample(t, "z", &[]), None);
    }
}
