//! Image batches for CNN children: per-channel standardisation with the
//! training statistics and, on training batches, the paper's augmentation
//! (zero-pad [`AUGMENT_PAD`] pixels, random crop back to H×W, random
//! horizontal flip). The random decisions come from the caller's seeded RNG.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::{ImageData, ImageSet};

/// Pixels of padding before the random crop.
pub const AUGMENT_PAD: usize = 4;

/// Why an image data set cannot train a CNN child. `set` names the split
/// (`training` or `validation`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageDataError {
    /// The standardisation statistics do not have one value per channel.
    #[error("the image statistics have {means} means and {stds} standard deviations for {channels} channels")]
    Statistics {
        means: usize,
        stds: usize,
        channels: usize,
    },
    /// No classes to predict.
    #[error("the image data has 0 classes")]
    NoClasses,
    /// A split has no images.
    #[error("the {set} images are empty")]
    Empty { set: &'static str },
    /// A split's image shape differs from the training images'.
    #[error("the {set} images are {}×{}×{}, the training images {}×{}×{}", .shape.0, .shape.1, .shape.2, .training.0, .training.1, .training.2)]
    Shape {
        set: &'static str,
        /// Channels, height, width.
        shape: (usize, usize, usize),
        training: (usize, usize, usize),
    },
    /// A split's images have a zero channel count, height or width.
    #[error("the {set} images have a zero dimension")]
    ZeroDimension { set: &'static str },
    /// A split's pixel bytes do not match its labels and image shape.
    #[error("the {set} set has {bytes} pixel bytes for {labels} labels of {}×{}×{} images", .shape.0, .shape.1, .shape.2)]
    PixelCount {
        set: &'static str,
        bytes: usize,
        labels: usize,
        shape: (usize, usize, usize),
    },
    /// A label is not a class.
    #[error("a {set} label is {label}, outside 0..{classes}")]
    Label {
        set: &'static str,
        label: i64,
        classes: usize,
    },
}

/// Why an image data set cannot be used.
pub fn check(data: &ImageData) -> Result<(), ImageDataError> {
    let c = data.train.channels;
    if data.mean.len() != c || data.std.len() != c {
        return Err(ImageDataError::Statistics {
            means: data.mean.len(),
            stds: data.std.len(),
            channels: c,
        });
    }
    if data.classes == 0 {
        return Err(ImageDataError::NoClasses);
    }
    let training = (c, data.train.height, data.train.width);
    for (set, images) in [("training", &data.train), ("validation", &data.valid)] {
        let n = images.labels.len();
        if n == 0 {
            return Err(ImageDataError::Empty { set });
        }
        let shape = (images.channels, images.height, images.width);
        if shape != training {
            return Err(ImageDataError::Shape {
                set,
                shape,
                training,
            });
        }
        if images.channels * images.height * images.width == 0 {
            return Err(ImageDataError::ZeroDimension { set });
        }
        if images.pixels.len() != n * images.channels * images.height * images.width {
            return Err(ImageDataError::PixelCount {
                set,
                bytes: images.pixels.len(),
                labels: n,
                shape,
            });
        }
        if let Some(&bad) = images
            .labels
            .iter()
            .find(|&&l| l < 0 || l as usize >= data.classes)
        {
            return Err(ImageDataError::Label {
                set,
                label: bad,
                classes: data.classes,
            });
        }
    }
    Ok(())
}

/// The standardised images `indices` of `set`, flattened `[n, C, H, W]`, and
/// their labels. With `augment`, each image is padded, randomly cropped and
/// randomly flipped (padding is the channel mean, i.e. 0 after standardisation).
pub fn batch(
    set: &ImageSet,
    indices: &[usize],
    mean: &[f32],
    std: &[f32],
    mut augment: Option<&mut ChaCha8Rng>,
) -> (Vec<f32>, Vec<i64>) {
    let (c, h, w) = (set.channels, set.height, set.width);
    let size = c * h * w;
    let mut out = vec![0f32; indices.len() * size];
    let mut labels = Vec::with_capacity(indices.len());
    for (n, &i) in indices.iter().enumerate() {
        labels.push(set.labels[i]);
        let (dy, dx, flip) = match augment.as_deref_mut() {
            Some(rng) => (
                rng.random_range(0..=2 * AUGMENT_PAD),
                rng.random_range(0..=2 * AUGMENT_PAD),
                rng.random_bool(0.5),
            ),
            None => (AUGMENT_PAD, AUGMENT_PAD, false),
        };
        let src = &set.pixels[i * size..(i + 1) * size];
        let dst = &mut out[n * size..(n + 1) * size];
        for ch in 0..c {
            let (m, s) = (mean[ch], std[ch]);
            for y in 0..h {
                let sy = (y + dy).wrapping_sub(AUGMENT_PAD);
                if sy >= h {
                    continue;
                }
                for x in 0..w {
                    let xc = if flip { w - 1 - x } else { x };
                    let sx = (xc + dx).wrapping_sub(AUGMENT_PAD);
                    if sx >= w {
                        continue;
                    }
                    let v = f32::from(src[(ch * h + sy) * w + sx]) / 255.0;
                    dst[(ch * h + y) * w + x] = (v - m) / s;
                }
            }
        }
    }
    (out, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn set() -> ImageSet {
        ImageSet {
            pixels: (0..2 * 2 * 3 * 5).map(|v| v as u8 * 4).collect(),
            labels: vec![0, 1],
            channels: 2,
            height: 3,
            width: 5,
        }
    }

    fn data() -> ImageData {
        ImageData {
            train: set(),
            valid: set(),
            classes: 2,
            mean: vec![0.0, 0.0],
            std: vec![1.0, 1.0],
        }
    }

    #[test]
    fn check_names_the_split_and_the_value_that_is_wrong() {
        assert_eq!(check(&data()), Ok(()));
        let mut d = data();
        d.valid.labels[1] = 7;
        let e = check(&d).expect_err("a label outside the classes");
        assert_eq!(
            e,
            ImageDataError::Label {
                set: "validation",
                label: 7,
                classes: 2
            }
        );
        assert_eq!(e.to_string(), "a validation label is 7, outside 0..2");
        let mut d = data();
        d.train.pixels.pop();
        assert!(matches!(
            check(&d),
            Err(ImageDataError::PixelCount {
                set: "training",
                bytes: 59,
                labels: 2,
                shape: (2, 3, 5)
            })
        ));
    }

    #[test]
    fn plain_batches_are_standardised_per_channel() {
        let s = set();
        let (x, y) = batch(&s, &[1, 0], &[0.1, 0.2], &[0.5, 0.25], None);
        assert_eq!(y, vec![1, 0]);
        assert_eq!(x.len(), 60);
        // Output image 0 is image 1: its channel 1, pixel (0, 0) is byte 30 + 15.
        let v = (f32::from(45u8 * 4) / 255.0 - 0.2) / 0.25;
        assert!((x[15] - v).abs() < 1e-6);
        let v0 = (0.0 - 0.1) / 0.5;
        assert!((x[30] - v0).abs() < 1e-6);
    }

    #[test]
    fn augmented_batches_are_shifted_or_flipped_copies() {
        let s = set();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let plain = batch(&s, &[0], &[0.0, 0.0], &[1.0, 1.0], None).0;
        let mut differs = false;
        for _ in 0..20 {
            let aug = batch(&s, &[0], &[0.0, 0.0], &[1.0, 1.0], Some(&mut rng)).0;
            assert_eq!(aug.len(), plain.len());
            // Every non-zero value of an augmented image comes from the original.
            assert!(aug.iter().all(|v| *v == 0.0 || plain.contains(v)));
            differs |= aug != plain;
        }
        assert!(differs);
    }
}
