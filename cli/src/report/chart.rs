//! The HTML report's chart: legacy-key and retired-endpoint calls per day, as inline SVG (no
//! script, no external asset), so an operator can watch both fall to zero before the sunset.

use std::fmt::Write;

use super::model::DayRow;

const W: f64 = 960.0;
const H: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

/// A series: its name, its colour, and its value on a day.
type Series = (&'static str, &'static str, fn(&DayRow) -> u64);

const SERIES: [Series; 2] = [
    ("legacy-key calls", "#c2410c", |d| d.legacy_keys),
    ("retired-endpoint calls", "#1d4ed8", |d| d.retired_endpoints),
];

/// A round top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

pub fn svg(days: &[DayRow]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title" class="chart"><title id="chart-title">Legacy-key and retired-endpoint calls per day</title>"#
    );
    if days.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" class="muted">no dated lines in the log</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return s;
    }
    let top = nice(
        days.iter()
            .map(|d| d.legacy_keys.max(d.retired_endpoints))
            .max()
            .unwrap_or(0),
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |i: usize| {
        if days.len() == 1 {
            LEFT + pw / 2.0
        } else {
            LEFT + pw * i as f64 / (days.len() - 1) as f64
        }
    };
    let y = |v: u64| TOP + ph - ph * v as f64 / top as f64;
    // Grid and y labels at 0, half and the top.
    for v in [0, top / 2, top] {
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{v}</text>"##,
            W - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    // Dates: first, last, and a few between.
    let (step, last) = ((days.len() / 6).max(1), days.len() - 1);
    for (i, d) in days.iter().enumerate() {
        // Every `step` days, but never so close to the last date that the two overlap.
        let shown = i == last || (i % step == 0 && last - i >= step.max(2));
        if !shown {
            continue;
        }
        let anchor = match i {
            0 if days.len() > 1 => "start",
            i if i == last && days.len() > 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="{anchor}" class="tick">{}</text>"#,
            x(i),
            H - BOTTOM + 18.0,
            &d.date
        );
    }
    for (name, colour, value) in SERIES {
        let points: Vec<String> = days
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(value(d))))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{}"><title>{name}</title></polyline>"#,
            points.join(" ")
        );
        for (i, d) in days.iter().enumerate() {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{}: {} {name}</title></circle>"#,
                x(i),
                y(value(d)),
                &d.date,
                value(d)
            );
        }
    }
    // Legend.
    for (k, (name, colour, _)) in SERIES.iter().enumerate() {
        let lx = LEFT + 8.0 + 230.0 * k as f64;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="14" height="4" fill="{colour}"/><text x="{}" y="{}" class="legend">{name}</text>"#,
            H - 10.0,
            lx + 20.0,
            H - 5.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, legacy: u64, retired: u64) -> DayRow {
        DayRow {
            date: date.into(),
            requests: legacy + retired,
            legacy_keys: legacy,
            retired_endpoints: retired,
        }
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice(0), 1);
        assert_eq!(nice(3), 5);
        assert_eq!(nice(17), 20);
        assert_eq!(nice(51), 100);
        assert_eq!(nice(u64::MAX), u64::MAX);
    }

    #[test]
    fn one_point_per_day_per_series() {
        let s = svg(&[day("2026-11-01", 4, 1), day("2026-11-02", 0, 0)]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 4);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("2026-11-01: 4 legacy-key calls"));
        assert!(svg(&[]).contains("no dated lines"));
    }
}
