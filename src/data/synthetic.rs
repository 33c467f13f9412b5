//! Small, learnable data sets written in exactly the real file formats, for
//! tests and examples that must not depend on downloads. The same seed
//! writes the same bytes.
//!
//! - [`write_cifar_batches`]: CIFAR-10 binary batches; each class has its own
//!   mean colour and stripe pattern, plus noise.
//! - [`write_idx`]: MNIST-format IDX files (1×28×28); each class is a bright
//!   square at its own place, jittered, on a noisy background.
//! - [`write_text_corpus`]: ptb.{train,valid,test}.txt from a small grammar
//!   (40 words) in which a subject noun fixes its verb.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{cifar, idx, ptb};

/// Each CIFAR class's mean colour (red, green, blue).
const COLOURS: [[i32; 3]; 10] = [
    [200, 60, 60],
    [60, 200, 60],
    [60, 60, 200],
    [200, 200, 60],
    [200, 60, 200],
    [60, 200, 200],
    [140, 140, 140],
    [230, 150, 60],
    [100, 60, 160],
    [40, 110, 90],
];

/// Write `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin` into
/// `dir` (created if needed), `per_file` records each, labels balanced over
/// the ten classes and shuffled. Class `c`'s image is `COLOURS[c]`, plus
/// stripes (horizontal for even `c`, vertical for odd, period `2 + c / 2`),
/// plus uniform noise of ±40.
pub fn write_cifar_batches(dir: &Path, per_file: usize, seed: u64) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (_, h, w) = cifar::SHAPE;
    for name in cifar::TRAIN_FILES.iter().chain([&cifar::TEST_FILE]) {
        let mut out = BufWriter::new(File::create(dir.join(name))?);
        for label in balanced_labels(per_file, &mut rng) {
            let mut record = Vec::with_capacity(cifar::RECORD_BYTES);
            record.push(label);
            let c = usize::from(label);
            let period = 2 + c / 2;
            for colour in COLOURS[c] {
                for y in 0..h {
                    for x in 0..w {
                        let along = if c.is_multiple_of(2) { y } else { x };
                        let stripe = if (along / period).is_multiple_of(2) {
                            30
                        } else {
                            -30
                        };
                        let noise = rng.random_range(-40..=40);
                        record.push(clamp_byte(colour + stripe + noise));
                    }
                }
            }
            out.write_all(&record)?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Write the four MNIST-format IDX files into `dir` (created if needed):
/// `n_train` training and `n_test` test images of 28×28, labels balanced and
/// shuffled; gzipped as `<name>.gz` when `gz`. Class `c` is a 10×10 square
/// of brightness 150–255 at row `3 + 12·(c / 5)`, column `1 + 4·(c % 5)`,
/// jittered by ±1 pixel, on a background of noise in 0–40.
pub fn write_idx(dir: &Path, n_train: usize, n_test: usize, gz: bool, seed: u64) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let parts = [
        (idx::TRAIN_IMAGES, idx::TRAIN_LABELS, n_train),
        (idx::TEST_IMAGES, idx::TEST_LABELS, n_test),
    ];
    for (images_name, labels_name, n) in parts {
        let labels = balanced_labels(n, &mut rng);
        let mut pixels = Vec::with_capacity(n * 28 * 28);
        for &label in &labels {
            pixels.extend(square_image(usize::from(label), &mut rng));
        }
        let count = u32::try_from(n).map_err(|_| io::Error::other("too many images for IDX"))?;
        write_idx_file(
            dir,
            images_name,
            idx::IMAGES_MAGIC,
            &[count, 28, 28],
            &pixels,
            gz,
        )?;
        write_idx_file(dir, labels_name, idx::LABELS_MAGIC, &[count], &labels, gz)?;
    }
    Ok(())
}

/// One 28×28 image of class `c` (see [`write_idx`]).
fn square_image(c: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let top = (3 + 12 * (c / 5)) as i32 + rng.random_range(-1..=1);
    let left = (1 + 4 * (c % 5)) as i32 + rng.random_range(-1..=1);
    let bright = rng.random_range(150..=255);
    let mut image = Vec::with_capacity(28 * 28);
    for y in 0..28i32 {
        for x in 0..28i32 {
            let inside = (top..top + 10).contains(&y) && (left..left + 10).contains(&x);
            image.push(if inside {
                bright
            } else {
                rng.random_range(0..=40)
            });
        }
    }
    image
}

/// Write one IDX file `dir/name` (or `name.gz`).
fn write_idx_file(
    dir: &Path,
    name: &str,
    magic: u32,
    dims: &[u32],
    payload: &[u8],
    gz: bool,
) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(4 + 4 * dims.len() + payload.len());
    bytes.extend_from_slice(&magic.to_be_bytes());
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    if gz {
        let file = File::create(dir.join(format!("{name}.gz")))?;
        let mut enc = GzEncoder::new(BufWriter::new(file), Compression::fast());
        enc.write_all(&bytes)?;
        enc.finish()?.flush()
    } else {
        std::fs::write(dir.join(name), bytes)
    }
}

/// `n` labels cycling through the ten classes, shuffled.
fn balanced_labels(n: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    labels.shuffle(rng);
    labels
}

fn clamp_byte(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

const DETERMINERS: [&str; 4] = ["the", "a", "every", "some"];
const ADJECTIVES: [&str; 8] = [
    "big", "small", "red", "old", "quick", "quiet", "young", "dark",
];
const NOUNS: [&str; 10] = [
    "cat", "dog", "bird", "fish", "man", "woman", "child", "horse", "farmer", "king",
];
const VERBS: [&str; 8] = [
    "sees", "likes", "chases", "finds", "follows", "feeds", "hears", "watches",
];
const PREPOSITIONS: [&str; 4] = ["in", "near", "under", "behind"];
const PLACES: [&str; 6] = ["park", "river", "house", "garden", "forest", "city"];
/// Lines at the start of the training text that use every word at least once.
pub const TEXT_COVERAGE_LINES: usize = 10;

/// Write `ptb.train.txt` (at least [`TEXT_COVERAGE_LINES`] lines, `train_lines`
/// when more), `ptb.valid.txt` and `ptb.test.txt` (`eval_lines` each) into
/// `dir` (created if needed), one sentence a line in the Penn Treebank layout
/// (" w1 w2 … \n"). Sentences follow
/// `DET [ADJ] NOUN VERB DET [ADJ] NOUN [PREP the PLACE]`, where the subject
/// noun fixes the verb, so a language model can beat the unigram baseline.
/// The first lines of the training text use every word, so the validation
/// and test words are always in the training vocabulary.
pub fn write_text_corpus(
    dir: &Path,
    train_lines: usize,
    eval_lines: usize,
    seed: u64,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train: Vec<String> = (0..TEXT_COVERAGE_LINES).map(coverage_sentence).collect();
    while train.len() < train_lines {
        train.push(random_sentence(&mut rng));
    }
    write_lines(&dir.join(ptb::TRAIN_FILE), &train)?;
    for name in [ptb::VALID_FILE, ptb::TEST_FILE] {
        let lines: Vec<String> = (0..eval_lines).map(|_| random_sentence(&mut rng)).collect();
        write_lines(&dir.join(name), &lines)?;
    }
    Ok(())
}

/// Sentence `i` of the coverage lines: every slot filled, word `i` of each list.
fn coverage_sentence(i: usize) -> String {
    let subject = i % NOUNS.len();
    let words = [
        DETERMINERS[i % DETERMINERS.len()],
        ADJECTIVES[i % ADJECTIVES.len()],
        NOUNS[subject],
        VERBS[subject % VERBS.len()],
        DETERMINERS[(i + 1) % DETERMINERS.len()],
        ADJECTIVES[(i + 1) % ADJECTIVES.len()],
        NOUNS[(i + 1) % NOUNS.len()],
        PREPOSITIONS[i % PREPOSITIONS.len()],
        "the",
        PLACES[i % PLACES.len()],
    ];
    words.join(" ")
}

/// A sentence drawn from the grammar.
fn random_sentence(rng: &mut ChaCha8Rng) -> String {
    let mut words = Vec::with_capacity(10);
    let subject = rng.random_range(0..NOUNS.len());
    noun_phrase(rng, &mut words, Some(subject));
    words.push(VERBS[subject % VERBS.len()]);
    noun_phrase(rng, &mut words, None);
    if rng.random_bool(0.5) {
        words.push(PREPOSITIONS[rng.random_range(0..PREPOSITIONS.len())]);
        words.push("the");
        words.push(PLACES[rng.random_range(0..PLACES.len())]);
    }
    words.join(" ")
}

/// `DET [ADJ] NOUN`, the noun given or drawn.
fn noun_phrase(rng: &mut ChaCha8Rng, words: &mut Vec<&'static str>, noun: Option<usize>) {
    words.push(DETERMINERS[rng.random_range(0..DETERMINERS.len())]);
    if rng.random_bool(0.5) {
        words.push(ADJECTIVES[rng.random_range(0..ADJECTIVES.len())]);
    }
    let n = noun.unwrap_or_else(|| rng.random_range(0..NOUNS.len()));
    words.push(NOUNS[n]);
}

fn write_lines(path: &Path, lines: &[String]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for line in lines {
        writeln!(out, " {line} ")?;
    }
    out.flush()
}
