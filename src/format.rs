//! How numbers are printed for a person: rewards (and baselines) with their
//! significant digits, so that a PTB reward of 1.25e-4 does not read 0.0000,
//! and durations in a unit that reads.

/// Significant digits of a printed reward.
const DIGITS: i32 = 4;

/// A reward, baseline or advantage as text: four significant digits; fixed
/// notation from 0.01 up to 100,000 (`0.8123`, `12.50`), scientific outside it
/// with trailing zeros dropped (`1.25e-4`, `-3e-5`); `0` for zero.
pub fn reward(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if (0.01..100_000.0).contains(&a) {
        let magnitude = a.log10().floor() as i32;
        let decimals = (DIGITS - 1 - magnitude).max(0) as usize;
        let fixed = format!("{v:.decimals$}");
        // Rounding can carry into a new digit (9.99995 -> 10.000): one decimal fewer.
        let rounded: f64 = fixed.parse().unwrap_or(v);
        if rounded.abs().log10().floor() as i32 > magnitude && decimals > 0 {
            return format!("{v:.prec$}", prec = decimals - 1);
        }
        return fixed;
    }
    let s = format!("{v:.prec$e}", prec = (DIGITS - 1) as usize);
    match s.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        _ => s,
    }
}

/// `, train loss 1.2345, validation loss 2.5000`: the losses of an epoch
/// that it has, each after `, `; nothing for a loss it does not have (a
/// trial command that reports only its metric).
pub fn losses(train: Option<f64>, val: Option<f64>) -> String {
    let mut s = String::new();
    if let Some(l) = train {
        s += &format!(", train loss {l:.4}");
    }
    if let Some(l) = val {
        s += &format!(", validation loss {l:.4}");
    }
    s
}

/// A duration for a person: `45 s`, `12 min`, `3.5 h`, `12.4 days`.
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if !s.is_finite() => "?".to_string(),
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 90.0 * 60.0 => format!("{:.0} min", s / 60.0),
        s if s < 48.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, losses, reward};

    #[test]
    fn absent_losses_are_left_out() {
        assert_eq!(losses(None, None), "");
        assert_eq!(losses(Some(1.5), None), ", train loss 1.5000");
        assert_eq!(
            losses(None, Some(f64::NAN)),
            ", validation loss NaN",
            "a measured NaN is shown"
        );
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(600.0), "10 min");
        assert_eq!(duration(3.5 * 3600.0), "3.5 h");
        assert_eq!(duration(10.0 * 86_400.0), "10.0 days");
        assert_eq!(duration(f64::INFINITY), "?");
    }

    #[test]
    fn rewards_keep_their_significant_digits() {
        let cases = [
            (0.0, "0"),
            (1.25e-4, "1.25e-4"),
            (1.0e-4, "1e-4"),
            (-3.0e-5, "-3e-5"),
            (1.23456e-4, "1.235e-4"),
            (0.009999, "9.999e-3"),
            (0.0123, "0.01230"),
            (0.5, "0.5000"),
            (0.81234, "0.8123"),
            (1.0, "1.000"),
            (12.5, "12.50"),
            (-0.25, "-0.2500"),
            (9.99995, "10.00"),
            (99_999.0, "99999"),
            (123_456.0, "1.235e5"),
        ];
        for (v, text) in cases {
            assert_eq!(reward(v), text, "{v}");
        }
        assert_eq!(reward(f64::NAN), "NaN");
        assert_eq!(reward(f64::INFINITY), "inf");
    }

    #[test]
    fn a_tiny_reward_is_never_shown_as_zero() {
        for v in [1e-4, 3.3e-6, 8.1e-9, -2e-7] {
            let s = reward(v);
            assert!(s.parse::<f64>().is_ok_and(|p| p != 0.0), "{v} -> {s}");
            let back: f64 = s.parse().expect("a number");
            assert!((back - v).abs() <= v.abs() * 1e-3, "{v} -> {s}");
        }
    }
}
