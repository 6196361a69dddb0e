//! Charts drawn on the server as SVG: usage by outcome as stacked bars, and the
//! small spark lines of the keys list. They carry only numbers and fixed labels,
//! read without JavaScript, and come with a text alternative: a one-sentence
//! summary (the image's accessible name) and the figures as a table.

use std::fmt::Write;

use crate::store::Granularity;
use crate::usage::{Bucket, Counts, UsageRange};
use crate::vocab::Outcome;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// Every outcome, in stacking order (issued at the bottom).
const SERIES: [Outcome; 8] = [
    Outcome::Issued,
    Outcome::Exchanged,
    Outcome::Verified,
    Outcome::WrongSecret,
    Outcome::AddressNotAllowed,
    Outcome::ScopeRefused,
    Outcome::KeyInactive,
    Outcome::Throttled,
];

/// A chart ready for a template: the SVG (to embed unescaped; it holds no text
/// from outside), its summary, and its rows for the table.
pub struct Chart {
    pub svg: String,
    pub summary: String,
    pub legend: Vec<(&'static str, &'static str)>,
    /// `(bucket label, issued, exchanged, raw keys verified, failed, refusals by reason)`.
    pub rows: Vec<(String, i64, i64, i64, i64, Vec<i64>)>,
    pub refusal_labels: Vec<&'static str>,
}

/// A bucket's label: `2026-11-30` for a day, `11-30 14:00` for an hour.
fn label(start: &str, granularity: Granularity) -> String {
    match granularity {
        Granularity::Day => start.get(..10).unwrap_or(start).to_string(),
        Granularity::Hour => start.get(5..16).unwrap_or(start).replace('T', " "),
    }
}

/// What the chart shows, in one sentence: totals by outcome over `period`.
fn summary(total: &Counts, period: &str) -> String {
    let mut text = format!("{period}: {} issued, {} refused", total.issued, total.failed);
    if total.exchanged > 0 {
        let _ = write!(text, ", {} exchanged", total.exchanged);
    }
    if total.verified > 0 {
        let _ = write!(text, ", {} raw keys verified", total.verified);
    }
    let reasons: Vec<String> = Outcome::REFUSALS
        .iter()
        .filter(|&&o| total.get(o) > 0)
        .map(|&o| format!("{} {}", total.get(o), o.label().to_lowercase()))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(text, " ({})", reasons.join(", "));
    }
    text.push('.');
    text
}

/// The series class of `outcome` (its colour comes from the stylesheet).
fn class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Issued => "s-issued",
        Outcome::WrongSecret => "s-wrong",
        Outcome::AddressNotAllowed => "s-address",
        Outcome::ScopeRefused => "s-scope",
        Outcome::KeyInactive => "s-inactive",
        Outcome::Throttled => "s-throttled",
        Outcome::Verified => "s-verified",
        Outcome::Exchanged => "s-exchanged",
    }
}

/// Stacked bars of `buckets` by outcome, titled by `period`.
pub fn bars(buckets: &[Bucket], total: &Counts, granularity: Granularity, period: &str) -> Chart {
    let summary = summary(total, period);
    let max = buckets
        .iter()
        .map(|b| b.counts.issued + b.counts.exchanged + b.counts.failed + b.counts.verified)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / buckets.len().max(1) as f64;
    let bar = (step * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{summary}" preserveAspectRatio="none">"#
    );
    // Axis: zero, the maximum, and the line under the bars.
    let base = TOP + plot_h;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}"/><line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}"/><text class="tick" x="{x}" y="{y}" text-anchor="end">{max}</text><text class="tick" x="{x}" y="{base}" text-anchor="end">0</text>"#,
        x = LEFT - 6.0,
        y = TOP + 10.0,
    );
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + i as f64 * step + (step - bar) / 2.0;
        let mut y = base;
        let _ = write!(
            svg,
            "<g><title>{}: {} issued, {} refused</title>",
            label(&b.start, granularity),
            b.counts.issued,
            b.counts.failed
        );
        for outcome in SERIES {
            let n = b.counts.get(outcome);
            if n == 0 {
                continue;
            }
            let h = n as f64 / max as f64 * plot_h;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}"/>"#,
                class(outcome)
            );
        }
        svg.push_str("</g>");
    }
    // First, middle and last bucket under the axis.
    let n = buckets.len();
    for i in [0, n / 2, n.saturating_sub(1)] {
        if let Some(b) = buckets.get(i) {
            let x = LEFT + i as f64 * step + step / 2.0;
            let anchor = if i == 0 {
                "start"
            } else if i + 1 == n {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                svg,
                r#"<text class="tick" x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
                HEIGHT - 6.0,
                label(&b.start, granularity)
            );
        }
    }
    svg.push_str("</svg>");
    let rows = buckets
        .iter()
        .map(|b| {
            let refused = Outcome::REFUSALS.iter().map(|&o| b.counts.get(o)).collect();
            let c = &b.counts;
            (label(&b.start, granularity), c.issued, c.exchanged, c.verified, c.failed, refused)
        })
        .collect();
    Chart {
        svg,
        summary,
        legend: SERIES.iter().map(|&o| (class(o), o.label())).collect(),
        rows,
        refusal_labels: Outcome::REFUSALS.iter().map(|o| o.label()).collect(),
    }
}

/// A spark line of daily token counts, oldest first, described by `label`.
pub fn spark(points: &[i64], label: &str) -> String {
    const W: f64 = 84.0;
    const H: f64 = 20.0;
    let max = points.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = W / (points.len().max(2) - 1) as f64;
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            format!("{:.1},{:.1}", i as f64 * step, H - 1.0 - n as f64 / max * (H - 2.0))
        })
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{label}"><polyline points="{}"/></svg>"#,
        line.join(" ")
    )
}

/// The periods a usage chart offers: `(value, label)`; the first of the URL's
/// `range` values, `7d` by default.
pub const RANGES: [(&str, &str); 3] =
    [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days")];

/// The period `value` names (`24h` hourly, `7d` and `30d` daily), as its value,
/// its range and its label.
pub fn period(value: &str, now: i64) -> (&'static str, UsageRange, &'static str) {
    match value {
        "24h" => ("24h", UsageRange::last(Granularity::Hour, 24, now), RANGES[0].1),
        "30d" => ("30d", UsageRange::last(Granularity::Day, 30, now), RANGES[2].1),
        _ => ("7d", UsageRange::last(Granularity::Day, 7, now), RANGES[1].1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Tally;

    fn bucket(start: &str, tally: Tally) -> Bucket {
        Bucket { start: start.into(), counts: tally.into() }
    }

    #[test]
    fn bars_draw_each_outcome_and_say_the_totals() {
        let mut busy = Tally::of(Outcome::Issued);
        busy.count(Outcome::Issued, 3);
        busy.count(Outcome::WrongSecret, 2);
        let buckets = [
            bucket("2026-11-29T00:00:00Z", Tally::default()),
            bucket("2026-11-30T00:00:00Z", busy),
        ];
        let chart = bars(&buckets, &busy.into(), Granularity::Day, "Last 2 days");
        assert_eq!(chart.summary, "Last 2 days: 4 issued, 2 refused (2 wrong secret).");
        assert_eq!(chart.svg.matches("<rect").count(), 2, "one rect per outcome present");
        assert!(chart.svg.contains(r#"class="s-wrong""#));
        assert!(chart.svg.contains("2026-11-30: 4 issued, 2 refused"));
        assert_eq!(chart.rows[1], ("2026-11-30".to_string(), 4, 0, 0, 2, vec![2, 0, 0, 0, 0]));
    }

    #[test]
    fn a_spark_line_has_a_point_per_day_and_a_name() {
        let svg = spark(&[0, 2, 4], "6 tokens in 3 days");
        assert!(svg.contains(r#"points="0.0,19.0 42.0,10.0 84.0,1.0""#), "{svg}");
        assert!(svg.contains(r#"aria-label="6 tokens in 3 days""#));
    }
}
