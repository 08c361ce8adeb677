//! A loss-curve picture as a self-contained SVG: the training loss per step
//! on a log scale (the run drawn over the reference run), and below it the
//! relative difference of the run from the reference.

use std::fmt::Write as _;
use std::path::Path;

/// One curve: a name for the legend, a colour, a stroke width, a value per step.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub width: f32,
    pub values: &'a [f32],
}

const WIDTH: f32 = 760.0;
const LEFT: f32 = 70.0;
const RIGHT: f32 = 20.0;
const PANEL_TOP: [f32; 2] = [40.0, 330.0];
const PANEL_HEIGHT: [f32; 2] = [240.0, 120.0];
const HEIGHT: f32 = 500.0;

/// Writes `path`: `ours` over `reference` in the upper panel and, with a
/// reference, `|ours - reference| / |reference|` in the lower one.
pub fn loss_curves(
    path: &Path,
    title: &str,
    ours: &Series<'_>,
    reference: Option<&Series<'_>>,
) -> std::io::Result<()> {
    // Drawn in this order: the reference underneath.
    let series: Vec<&Series<'_>> = reference.into_iter().chain([ours]).collect();
    let steps = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );

    let losses: Vec<f32> = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .collect();
    let upper = Panel::new(0, steps, &losses, "training loss (log scale)");
    upper.draw_frame(&mut svg);
    for s in &series {
        upper.draw_line(&mut svg, s.values, s.colour, s.width);
    }
    for (i, s) in series.iter().enumerate() {
        let y = PANEL_TOP[0] + 16.0 + 16.0 * i as f32;
        let x = WIDTH - RIGHT - 170.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 4.0,
            x + 24.0,
            y - 4.0,
            s.colour,
            s.width,
            x + 30.0,
            y,
            escape(s.name)
        );
    }

    if let Some(b) = reference {
        let a = ours;
        let rel: Vec<f32> = a
            .values
            .iter()
            .zip(b.values)
            .map(|(x, y)| ((x - y).abs() / y.abs()).max(1e-9))
            .collect();
        let label = format!("|{} - {}| / {} (log scale)", a.name, b.name, b.name);
        let lower = Panel::new(1, steps, &rel, &label);
        lower.draw_frame(&mut svg);
        lower.draw_line(&mut svg, &rel, a.colour, 1.0);
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">step</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 8.0
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}

/// A panel with a linear step axis and a log10 value axis.
struct Panel {
    top: f32,
    height: f32,
    steps: usize,
    /// log10 of the lowest and highest value shown (whole decades).
    lo: f32,
    hi: f32,
    label: String,
}

impl Panel {
    fn new(index: usize, steps: usize, values: &[f32], label: &str) -> Panel {
        let logs = values
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v.log10());
        let (lo, hi) = logs.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() {
            (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
        } else {
            (0.0, 1.0)
        };
        Panel {
            top: PANEL_TOP[index],
            height: PANEL_HEIGHT[index],
            steps,
            lo,
            hi,
            label: label.to_string(),
        }
    }

    fn x(&self, step: usize) -> f32 {
        LEFT + (WIDTH - LEFT - RIGHT) * step as f32 / (self.steps - 1) as f32
    }

    fn y(&self, v: f32) -> f32 {
        let t = (v.max(1e-30).log10() - self.lo) / (self.hi - self.lo);
        self.top + self.height * (1.0 - t.clamp(0.0, 1.0))
    }

    fn draw_frame(&self, svg: &mut String) {
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        let (y0, y1) = (self.top, self.top + self.height);
        let _ = writeln!(
            svg,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
            x1 - x0,
            self.height
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            x0,
            y0 - 6.0,
            escape(&self.label)
        );
        for decade in (self.lo as i32)..=(self.hi as i32) {
            let y = self.y(10f32.powi(decade));
            let _ = writeln!(
                svg,
                r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">1e{decade}</text>"##,
                x0 - 4.0,
                y + 4.0
            );
        }
        for i in 0..=5 {
            let step = (self.steps - 1) * i / 5;
            let x = self.x(step);
            let _ = writeln!(
                svg,
                r##"<line x1="{x}" y1="{y1}" x2="{x}" y2="{}" stroke="#888"/><text x="{x}" y="{}" text-anchor="middle">{step}</text>"##,
                y1 + 4.0,
                y1 + 16.0
            );
        }
    }

    fn draw_line(&self, svg: &mut String, values: &[f32], colour: &str, width: f32) {
        let mut points = String::new();
        for (i, v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let _ = write!(points, "{:.1},{:.1} ", self.x(i), self.y(*v));
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{}"/>"#,
            points.trim_end()
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
