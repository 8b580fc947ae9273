//! An SVG line chart of the history (one line per benchmark, one point per recorded run), drawn
//! with plotters' SVG backend only, written next to the history.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use rhai::Map;

use super::stats::format_ns;
use super::store::{self, Entry};
use super::PerfError;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options};
use crate::primitives::Result;

options! {
    /// Options of `perf::chart`.
    pub struct ChartKeys for "perf::chart" {
        /// How many benchmarks get a line (the slowest ones), at least 1.
        top: i64 = 5,
        /// Where the SVG goes, relative to the job's directory (default: `history.svg` next
        /// to the history).
        path: Option<String>,
    }
}
use crate::script::context;

/// The `top` benchmarks with the longest history (ties: the slowest now), oldest run first.
fn series(history: &[Entry], top: usize) -> Vec<(String, Vec<(usize, f64)>)> {
    let mut by_name: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, entry) in history.iter().enumerate() {
        for (name, figure) in &entry.benchmarks {
            if figure.ns.is_finite() {
                by_name.entry(name).or_default().push((i, figure.ns));
            }
        }
    }
    let mut all: Vec<(String, Vec<(usize, f64)>)> = by_name
        .into_iter()
        .map(|(name, points)| (name.to_string(), points))
        .collect();
    all.sort_by(|a, b| {
        b.1.len().cmp(&a.1.len()).then(
            b.1.last()
                .map(|p| p.1)
                .unwrap_or(0.0)
                .total_cmp(&a.1.last().map(|p| p.1).unwrap_or(0.0)),
        )
    });
    all.truncate(top);
    all
}

pub fn draw(history: &[Entry], top: usize, path: &Path) -> std::result::Result<(), String> {
    let series = series(history, top);
    if series.is_empty() {
        return Err(
            "the history has no figures to chart yet (record some with perf::record)".into(),
        );
    }
    let runs = history.len().max(2);
    let y_max = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("benchmark history", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(0usize..runs - 1, 0f64..y_max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("run (oldest first)")
        .y_desc("time")
        .y_label_formatter(&|v| format_ns(*v))
        .draw()
        .map_err(e)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// `perf::chart([#{ top, path }])`: draws the history, returns the SVG's path.
pub fn chart_fn(options: Map) -> Result<String> {
    let options: ChartKeys = options::parse(&options)?;
    let scope = context::current();
    let dir = store::dir(&scope);
    let top = options::count("perf::chart", "top", options.top)?.max(1);
    let path = match options.path {
        Some(p) => scope.path(&p),
        None => dir.join("history.svg"),
    };
    let history = store::read_history(&dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| PerfError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })
            .script()?;
    }
    draw(&history, top, &path)
        .map_err(|message| PerfError::Chart {
            path: path.clone(),
            message,
        })
        .script()?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{Figure, Figures};
    use super::*;

    #[test]
    fn draws_one_line_per_top_benchmark() {
        let entry = |a: f64, b: f64| Entry {
            sha: "x".into(),
            date: "d".into(),
            machine: "m".into(),
            label: String::new(),
            benchmarks: Figures::from([
                (
                    "parse/get".to_string(),
                    Figure {
                        ns: a,
                        lower: a,
                        upper: a,
                        rss_mb: None,
                    },
                ),
                (
                    "parse/rpc".to_string(),
                    Figure {
                        ns: b,
                        lower: b,
                        upper: b,
                        rss_mb: None,
                    },
                ),
            ]),
        };
        let history = vec![
            entry(400.0, 900.0),
            entry(410.0, 950.0),
            entry(800.0, 990.0),
        ];
        assert_eq!(series(&history, 1)[0].0, "parse/rpc");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.svg");
        draw(&history, 5, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("parse/get") && svg.contains("parse/rpc"));
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(draw(&[], 5, &path).is_err());
    }
}
