//! Small statistics shared by timing and pooled benchmark samples, and number formatting.

/// Median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Median and a distribution-free ~95 % confidence interval for it, from order statistics
/// (ranks n/2 ± 0.98·√n): no assumption about the shape of the noise, which on a shared machine
/// is anything but normal. With very few values the interval is the whole range.
pub fn median_ci(values: &mut [f64]) -> (f64, f64, f64) {
    let m = median(values);
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (m, values[lo], values[hi])
}

/// 1234.5 ns -> "1.23 µs".
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns.abs() < 1e3 {
        (ns, "ns")
    } else if ns.abs() < 1e6 {
        (ns / 1e3, "µs")
    } else if ns.abs() < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value.abs() >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// +12.3% / -4.0%
pub fn format_pct(pct: f64) -> String {
    format!("{pct:+.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn median_interval_brackets_the_median() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let (m, lo, hi) = median_ci(&mut v);
        assert_eq!(m, 50.5);
        assert!(lo < m && m < hi, "{lo} {m} {hi}");
        assert!(lo >= 35.0 && hi <= 65.0, "{lo} {hi}");
        let (_, lo, hi) = median_ci(&mut [5.0, 1.0, 9.0]);
        assert_eq!((lo, hi), (1.0, 9.0));
    }

    #[test]
    fn formats() {
        assert_eq!(format_ns(435.9), "436 ns");
        assert_eq!(format_ns(1234.5), "1.23 µs");
        assert_eq!(format_ns(52_000_000.0), "52.0 ms");
        assert_eq!(format_pct(99.96), "+100.0%");
    }
}
