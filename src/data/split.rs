//! The seeded train/validation split of the training images, the limits, and
//! the per-channel statistics of the training part.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{DataError, ImageSet};

/// The ChaCha stream used for the split, so that the split does not share
/// random numbers with anything else seeded from the run's seed.
const SPLIT_STREAM: u64 = 0x5eed_da7a;

/// Smallest standard deviation reported (one grey level in [0, 1] units), so
/// that standardising a constant channel does not divide by zero.
pub const MIN_STD: f32 = 1.0 / 255.0;

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of one image: channels × height × width.
    pub fn image_bytes(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (C×H×W, channel-major), if there is one.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.image_bytes();
        self.pixels
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    /// Keep only the first `n` images (all of them when there are fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.pixels.truncate(n * self.image_bytes());
    }

    /// A new set of the images at `indices`, in that order. Indices must be in range.
    fn select(&self, indices: &[usize]) -> ImageSet {
        let n = self.image_bytes();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * n..(i + 1) * n]);
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }
}

/// Split `all` (the training images read from `dir`) into training and
/// validation parts: a permutation of all indices drawn from `seed`; its
/// first `val_size` entries are the validation set, the rest the training
/// set, both in permutation order (so a later limit takes a random subset).
///
/// Errors when `val_size` is 0 or leaves no training images.
pub fn split(
    all: &ImageSet,
    val_size: usize,
    seed: u64,
    dir: &Path,
) -> Result<(ImageSet, ImageSet), DataError> {
    if val_size == 0 {
        return Err(DataError::NoValidation {
            dir: dir.to_path_buf(),
        });
    }
    if val_size >= all.len() {
        return Err(DataError::ValSize {
            dir: dir.to_path_buf(),
            val_size,
            available: all.len(),
        });
    }
    let mut perm: Vec<usize> = (0..all.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SPLIT_STREAM);
    perm.shuffle(&mut rng);
    let (valid, train) = perm.split_at(val_size);
    Ok((all.select(train), all.select(valid)))
}

/// Per-channel mean and (population) standard deviation of `set`'s pixels,
/// in [0, 1] units; each standard deviation is at least [`MIN_STD`].
/// Empty set: zeros and [`MIN_STD`].
pub fn channel_stats(set: &ImageSet) -> (Vec<f32>, Vec<f32>) {
    let c = set.channels;
    let plane = set.height * set.width;
    let mut sum = vec![0u64; c];
    let mut sum_sq = vec![0u64; c];
    if plane > 0 {
        for image in set.pixels.chunks_exact(c * plane) {
            for (ch, values) in image.chunks_exact(plane).enumerate() {
                let (s, q) = values.iter().fold((0u64, 0u64), |(s, q), &v| {
                    let v = u64::from(v);
                    (s + v, q + v * v)
                });
                sum[ch] += s;
                sum_sq[ch] += q;
            }
        }
    }
    let count = (set.len() * plane) as f64;
    let mut mean = vec![0f32; c];
    let mut std = vec![MIN_STD; c];
    if count > 0.0 {
        for ch in 0..c {
            let m = sum[ch] as f64 / count / 255.0;
            let var = (sum_sq[ch] as f64 / count / (255.0 * 255.0) - m * m).max(0.0);
            mean[ch] = m as f32;
            std[ch] = (var.sqrt() as f32).max(MIN_STD);
        }
    }
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pixels: Vec<u8>, channels: usize) -> ImageSet {
        let n = pixels.len() / (channels * 2);
        ImageSet {
            pixels,
            labels: (0..n as i64).collect(),
            channels,
            height: 1,
            width: 2,
        }
    }

    #[test]
    fn stats_are_per_channel_in_unit_range() {
        // Two images, 2 channels of 1×2: channel 0 = {0, 255, 0, 255}, channel 1 = 51 constant.
        let s = set(vec![0, 255, 51, 51, 255, 0, 51, 51], 2);
        let (mean, std) = channel_stats(&s);
        assert!((mean[0] - 0.5).abs() < 1e-6);
        assert!((std[0] - 0.5).abs() < 1e-6);
        assert!((mean[1] - 0.2).abs() < 1e-6);
        assert_eq!(std[1], MIN_STD);
    }

    #[test]
    fn truncate_and_image_agree() {
        let mut s = set((0..12).collect(), 1);
        assert_eq!(s.image(1), Some(&[2u8, 3][..]));
        assert_eq!(s.image(6), None);
        s.truncate(2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.pixels, vec![0, 1, 2, 3]);
        s.truncate(10);
        assert_eq!(s.len(), 2);
    }
}
