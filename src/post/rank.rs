//! Rank correlation of two orders of the same items (the benchmarks of how
//! well shared weights rank architectures): Spearman's ρ and Kendall's τ-b.
//! Values are "lower is better" (perplexities; negate accuracies); `None`
//! (a run that diverged) ranks last.

/// Ranks (1 = best = lowest), ties averaged; None (diverged) ranks last.
pub fn ranks(values: &[Option<f64>]) -> Vec<f64> {
    let key = |v: Option<f64>| v.filter(|x| x.is_finite()).unwrap_or(f64::INFINITY);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| key(values[a]).total_cmp(&key(values[b])));
    let mut r = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && key(values[order[j + 1]]) == key(values[order[i]]) {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ: Pearson's correlation of the ranks.
pub fn spearman(a: &[Option<f64>], b: &[Option<f64>]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Kendall's τ-b (ties in either order counted as in τ-b).
pub fn kendall(a: &[Option<f64>], b: &[Option<f64>]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0.0f64, 0.0, 0.0, 0.0);
    for i in 0..ra.len() {
        for j in i + 1..ra.len() {
            let (da, db) = (ra[i] - ra[j], rb[i] - rb[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if da * db > 0.0 {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    let n1 = concordant + discordant + ties_a;
    let n2 = concordant + discordant + ties_b;
    (concordant - discordant) / (n1 * n2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::{kendall, ranks, spearman};

    #[test]
    fn ranks_average_ties_and_put_missing_last() {
        let v = [Some(3.0), None, Some(1.0), Some(3.0)];
        assert_eq!(ranks(&v), vec![2.5, 4.0, 1.0, 2.5]);
    }

    #[test]
    fn a_missing_value_ranks_last_in_both_statistics() {
        let a = [Some(1.0), Some(2.0), Some(3.0), Some(4.0)];
        let b = [Some(10.0), Some(30.0), Some(20.0), None];
        assert_eq!(ranks(&b), vec![1.0, 3.0, 2.0, 4.0]);
        // d = 0, 1, 1, 0: ρ = 1 − 6·2 / (4·15) = 0.8; τ = (5 − 1) / 6.
        assert!((spearman(&a, &b) - 0.8).abs() < 1e-12);
        assert!((kendall(&a, &b) - 4.0 / 6.0).abs() < 1e-12);
        let tied = [Some(1.0), Some(1.0), None, None];
        assert_eq!(ranks(&tied), vec![1.5, 1.5, 3.5, 3.5]);
    }

    #[test]
    fn the_same_order_is_one_and_the_reverse_minus_one() {
        let a = [Some(1.0), Some(2.0), Some(3.0), Some(4.0)];
        let b = [Some(10.0), Some(20.0), Some(30.0), Some(40.0)];
        let r = [Some(4.0), Some(3.0), Some(2.0), Some(1.0)];
        assert_eq!(spearman(&a, &b), 1.0);
        assert_eq!(kendall(&a, &b), 1.0);
        assert_eq!(spearman(&a, &r), -1.0);
        assert_eq!(kendall(&a, &r), -1.0);
        // One swapped pair of four: ρ = 1 − 6·2/(4·15) = 0.8, τ = (5 − 1)/6.
        let s = [Some(2.0), Some(1.0), Some(3.0), Some(4.0)];
        assert!((spearman(&a, &s) - 0.8).abs() < 1e-12);
        assert!((kendall(&a, &s) - 4.0 / 6.0).abs() < 1e-12);
    }
}
