//! An SVG timeline per experiment: each request's latency (log scale) coloured by its status, the
//! backend's memory on a linear scale of its own (right axis), the fault windows shaded, what
//! `/health` said underneath, and when the fault was detected and the service recovered.
//!
//! Written by hand rather than with a plotting crate: the output is small, has no font
//! dependencies, and is byte-for-byte stable, so it can be snapshot-tested.

use std::fmt::Write as _;
use std::time::Duration;

use super::markdown::outcome;
use super::seconds;
use crate::journal::Journal;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 900.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 260.0;
const HEALTH_TOP: f64 = 270.0;
const HEALTH_HEIGHT: f64 = 12.0;

const OK: &str = "#2e7d32";
const CLIENT_ERROR: &str = "#f9a825";
const SERVER_ERROR: &str = "#c62828";
const NO_ANSWER: &str = "#212121";
const DETECTED: &str = "#e65100";
const RECOVERED: &str = "#1565c0";
const MEMORY: &str = "#6a1b9a";
const ANOMALY: &str = "#ad1457";
const MIB: f64 = 1024.0 * 1024.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

struct Scale {
    duration_ms: f64,
    /// Powers of ten on the latency axis, from 1 ms.
    decades: u32,
}

impl Scale {
    fn x(&self, at: Duration) -> f64 {
        LEFT + (RIGHT - LEFT) * (duration_ms(at) / self.duration_ms).clamp(0.0, 1.0)
    }

    fn y(&self, latency_ms: f64) -> f64 {
        let position = (latency_ms.max(1.0).log10() / f64::from(self.decades)).clamp(0.0, 1.0);
        BOTTOM - (BOTTOM - TOP) * position
    }
}

fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A tick step of 1, 2 or 5 times a power of ten seconds, for about eight ticks.
fn tick_step_seconds(total_seconds: f64) -> f64 {
    let rough = (total_seconds / 8.0).max(0.1);
    let magnitude = 10_f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

fn latency_label(ms: f64) -> String {
    if ms >= 1000.0 { format!("{} s", ms / 1000.0) } else { format!("{ms} ms") }
}

/// Powers of ten up to the slowest answer, two at least.
fn decades(slowest_ms: f64) -> u32 {
    (1..=7).find(|decade| 10_f64.powi(*decade) >= slowest_ms).unwrap_or(7).max(2).unsigned_abs()
}

pub fn timeline(journal: &Journal) -> String {
    let timeline = &journal.timeline;
    let slowest = timeline.samples.iter().map(|sample| duration_ms(sample.latency)).fold(1.0, f64::max);
    let scale = Scale { duration_ms: duration_ms(timeline.duration).max(1.0), decades: decades(slowest) };
    let mut svg = String::new();
    header(&mut svg, journal);
    fault_windows(&mut svg, journal, &scale);
    axes(&mut svg, &scale);
    requests(&mut svg, journal, &scale);
    memory(&mut svg, journal, &scale);
    health_strip(&mut svg, journal, &scale);
    markers(&mut svg, journal, &scale);
    anomalies(&mut svg, journal, &scale);
    legend(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

fn header(svg: &mut String, journal: &Journal) {
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##);
    let title = format!("{}: {}", journal.experiment.title, outcome(journal));
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#, escape(&title));
    let m = &journal.measurements;
    let subtitle = format!(
        "detected in {} · recovered in {} · {} requests · errors {:.1}% during the fault",
        seconds(m.time_to_detect),
        seconds(m.time_to_recover),
        m.requests,
        m.phases.during.error_rate * 100.0
    );
    let _ = writeln!(svg, r##"<text x="{LEFT}" y="40" font-size="11" fill="#424242">{}</text>"##, escape(&subtitle));
}

fn fault_windows(svg: &mut String, journal: &Journal, scale: &Scale) {
    let timeline = &journal.timeline;
    for window in &timeline.faults {
        let start = scale.x(window.start);
        let end = scale.x(window.end.unwrap_or(timeline.duration));
        let _ = writeln!(
            svg,
            r##"<rect x="{start:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#d32f2f" fill-opacity="0.12"/>"##,
            (end - start).max(1.0),
            BOTTOM - TOP
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#b71c1c">{}</text>"##,
            start + 4.0,
            TOP + 13.0,
            escape(&window.fault)
        );
    }
}

fn axes(svg: &mut String, scale: &Scale) {
    for decade in 0..=scale.decades {
        let ms = 10_f64.powi(decade.cast_signed());
        let y = scale.y(ms);
        let _ = writeln!(svg, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e0e0e0"/>"##);
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#616161">{}</text>"##,
            LEFT - 6.0,
            y + 3.0,
            latency_label(ms)
        );
    }
    let total_seconds = scale.duration_ms / 1000.0;
    let step = tick_step_seconds(total_seconds);
    let mut tick = 0.0;
    while tick <= total_seconds + 1e-9 {
        let x = scale.x(Duration::from_secs_f64(tick));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{BOTTOM}" x2="{x:.1}" y2="{:.1}" stroke="#9e9e9e"/>"##,
            BOTTOM + 4.0
        );
        let _ = writeln!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#616161">{tick} s</text>"##,
            HEALTH_TOP + HEALTH_HEIGHT + 14.0
        );
        tick += step;
    }
    let _ = writeln!(svg, r##"<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="#616161"/>"##);
    let middle = f64::midpoint(TOP, BOTTOM);
    let _ = writeln!(
        svg,
        r##"<text x="14" y="{middle:.1}" font-size="10" fill="#616161" transform="rotate(-90 14 {middle:.1})" text-anchor="middle">latency (log)</text>"##
    );
}

fn requests(svg: &mut String, journal: &Journal, scale: &Scale) {
    for sample in &journal.timeline.samples {
        let x = scale.x(sample.at);
        match sample.status {
            None => {
                let y = TOP + 4.0;
                let _ = writeln!(
                    svg,
                    r#"<path d="M{:.1} {:.1}l5 5m0 -5l-5 5" stroke="{NO_ANSWER}" stroke-width="1.2"/>"#,
                    x - 2.5,
                    y - 2.5
                );
            }
            Some(status) => {
                let colour = match status {
                    500.. => SERVER_ERROR,
                    400..500 => CLIENT_ERROR,
                    _ => OK,
                };
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{:.1}" r="2.5" fill="{colour}" fill-opacity="0.8"/>"#,
                    scale.y(duration_ms(sample.latency))
                );
            }
        }
    }
}

/// The memory line, its axis on the right from 0 to a round number of MiB above the peak.
fn memory(svg: &mut String, journal: &Journal, scale: &Scale) {
    let points = &journal.timeline.memory;
    #[allow(clippy::cast_precision_loss)] // memory sizes stay far below 2^52
    let peak_mib = points.iter().map(|point| point.bytes as f64 / MIB).fold(0.0, f64::max);
    if points.is_empty() {
        return;
    }
    let step = tick_step_seconds(peak_mib * 2.0).max(1.0);
    let top_mib = ((peak_mib / step).floor() + 1.0) * step;
    let y = |mib: f64| BOTTOM - (BOTTOM - TOP) * (mib / top_mib);
    let mut tick = 0.0;
    while tick <= top_mib + 1e-9 {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{MEMORY}">{tick} MiB</text>"#,
            RIGHT + 4.0,
            y(tick) + 3.0
        );
        tick += step;
    }
    #[allow(clippy::cast_precision_loss)]
    let path: Vec<String> =
        points.iter().map(|point| format!("{:.1},{:.1}", scale.x(point.at), y(point.bytes as f64 / MIB))).collect();
    let _ =
        writeln!(svg, r#"<polyline points="{}" fill="none" stroke="{MEMORY}" stroke-width="1.5"/>"#, path.join(" "));
}

fn health_strip(svg: &mut String, journal: &Journal, scale: &Scale) {
    for pair in journal.timeline.health.windows(2) {
        let (start, end) = (scale.x(pair[0].at), scale.x(pair[1].at));
        let colour = if pair[0].connected { OK } else { SERVER_ERROR };
        let _ = writeln!(
            svg,
            r#"<rect x="{start:.1}" y="{HEALTH_TOP}" width="{:.1}" height="{HEALTH_HEIGHT}" fill="{colour}"/>"#,
            (end - start).max(0.5)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#616161">/health</text>"##,
        LEFT - 6.0,
        HEALTH_TOP + 10.0
    );
}

fn markers(svg: &mut String, journal: &Journal, scale: &Scale) {
    let timeline = &journal.timeline;
    let m = &journal.measurements;
    let first_fault = timeline.faults.iter().map(|window| window.start).min();
    let last_heal = timeline.faults.iter().filter_map(|window| window.end).max();
    let markers = [
        (first_fault.zip(m.time_to_detect).map(|(start, took)| start + took), "detected", DETECTED),
        (last_heal.zip(m.time_to_recover).map(|(heal, took)| heal + took), "recovered", RECOVERED),
    ];
    for (at, label, colour) in markers {
        if let Some(at) = at {
            let x = scale.x(at);
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{colour}" stroke-dasharray="4 3"/>"#,
                HEALTH_TOP + HEALTH_HEIGHT
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}">{label}</text>"#,
                x + 3.0,
                BOTTOM - 6.0
            );
        }
    }
}

/// A mark at each anomaly of the history: a triangle on the time axis and a line up the chart,
/// titled with what it was.
fn anomalies(svg: &mut String, journal: &Journal, scale: &Scale) {
    for (anomaly, at) in journal.anomalies() {
        let x = scale.x(at);
        let _ = writeln!(
            svg,
            r#"<g><title>{}</title><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="{ANOMALY}" stroke-width="1.5"/><path d="M{x:.1} {:.1}l-5 8h10z" fill="{ANOMALY}"/></g>"#,
            escape(&anomaly.to_string()),
            BOTTOM - 8.0
        );
    }
}

fn legend(svg: &mut String) {
    let items = [
        (OK, "2xx/3xx"),
        (CLIENT_ERROR, "4xx"),
        (SERVER_ERROR, "5xx"),
        (NO_ANSWER, "no answer"),
        (MEMORY, "memory (right)"),
    ];
    let mut x = LEFT;
    let y = HEIGHT - 24.0;
    for (colour, label) in items {
        let _ = writeln!(svg, r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#);
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#424242">{label}</text>"##,
            x + 8.0,
            y + 4.0
        );
        x += if label.len() > 10 { 120.0 } else { 90.0 };
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{x:.1}" y="{:.1}" width="14" height="10" fill="#d32f2f" fill-opacity="0.25"/>"##,
        y - 5.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#424242">fault active</text>"##,
        x + 20.0,
        y + 4.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        assert!((tick_step_seconds(16.0) - 2.0).abs() < 1e-9);
        assert!((tick_step_seconds(60.0) - 10.0).abs() < 1e-9);
        assert!((tick_step_seconds(3.0) - 0.5).abs() < 1e-9);
    }
}
