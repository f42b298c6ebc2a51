//! metrics: a `/metrics` page in the Prometheus text format, for the hub's `/metrics` and
//! `webpeek publish --metrics-listen`.

use std::fmt::Write;

/// What a metric's value is.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A page being written; every metric's name gets the prefix `webpeek_`.
#[derive(Debug, Default)]
pub struct MetricsPage(String);

impl MetricsPage {
    /// One metric with one value, after its `# HELP` and `# TYPE` lines.
    pub fn one(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "webpeek_{name} {value}");
    }

    /// One metric with a value per value of `label`.
    pub fn labelled(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) {
        self.head(name, kind, help);
        for (value_label, n) in values {
            let _ = writeln!(self.0, "webpeek_{name}{{{label}=\"{value_label}\"}} {n}");
        }
    }

    fn head(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = kind.as_str();
        let _ = writeln!(
            self.0,
            "# HELP webpeek_{name} {help}\n# TYPE webpeek_{name} {kind}"
        );
    }

    /// The page's text.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut page = MetricsPage::default();
        page.one("viewers", Kind::Gauge, "Connected viewers.", 3);
        page.labelled(
            "x_total",
            Kind::Counter,
            "X.",
            "kind",
            &[("a", 1), ("b", 2)],
        );
        assert_eq!(
            page.into_string(),
            "# HELP webpeek_viewers Connected viewers.\n# TYPE webpeek_viewers gauge\nwebpeek_viewers 3\n\
             # HELP webpeek_x_total X.\n# TYPE webpeek_x_total counter\n\
             webpeek_x_total{kind=\"a\"} 1\nwebpeek_x_total{kind=\"b\"} 2\n"
        );
    }
}
