//! Tests of `data`: PTB (real when present, generated), CIFAR-10 binary batches
//! and IDX files (generated, and real Fashion-MNIST when present), the seeded
//! split, the generators' learnability, and an error naming file and problem
//! for every kind of bad data.

use std::path::{Path, PathBuf};

use nas_actor::config::{DataConfig, Dataset};
use nas_actor::data::synthetic::{write_cifar_batches, write_idx, write_text_corpus};
use nas_actor::data::{
    load, load_images, load_images_test, load_ptb, load_ptb_test, DataError, ImageSet, TaskData,
    EOS,
};

use crate::common::ptb_dir;

const FASHION: &str = "/usr/share/datasets/fashion-mnist";

fn cfg(dataset: Dataset, dir: &Path, val_size: usize) -> DataConfig {
    DataConfig {
        dataset,
        dir: dir.to_path_buf(),
        val_size,
        train_limit: None,
        val_limit: None,
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The error's message, asserting it contains every one of `parts`.
fn assert_message<T: std::fmt::Debug>(result: Result<T, DataError>, parts: &[&str]) -> String {
    let message = result.expect_err("bad data must be an error").to_string();
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
    message
}

fn path_str(p: PathBuf) -> String {
    p.display().to_string()
}

// ---------- Penn Treebank ----------

#[test]
fn real_ptb_has_the_standard_sizes() {
    let Some(dir) = ptb_dir() else {
        eprintln!("skipped: data/ptb not present (run `make setup`)");
        return;
    };
    let corpus = load_ptb(&dir, None, None).expect("real PTB loads");
    assert_eq!(corpus.vocab.len(), 10_000);
    assert_eq!(corpus.train.len(), 929_589);
    assert_eq!(corpus.valid.len(), 73_760);
    let test = load_ptb_test(&dir, &corpus.vocab).expect("real PTB test loads");
    assert_eq!(test.len(), 82_430);
    let eos = corpus.vocab.id(EOS).expect("<eos> in vocab");
    assert_eq!(corpus.train.iter().filter(|&&t| t == eos).count(), 42_068);
    assert!(corpus.vocab.id("<unk>").is_some());
    // Most frequent first: "the" is PTB's most common word.
    assert_eq!(corpus.vocab.word(0), Some("the"));
}

#[test]
fn generated_text_round_trips_with_limits() {
    let dir = tmp();
    write_text_corpus(dir.path(), 200, 30, 7).unwrap();
    let full = load_ptb(dir.path(), None, None).unwrap();
    assert_eq!(full.vocab.len(), 41, "40 grammar words and <eos>");
    let eos = full.vocab.id(EOS).unwrap();
    assert_eq!(full.train.iter().filter(|&&t| t == eos).count(), 200);
    assert_eq!(full.valid.iter().filter(|&&t| t == eos).count(), 30);
    // Ids decode back to the file's words.
    let first_line = std::fs::read_to_string(dir.path().join("ptb.train.txt")).unwrap();
    let words: Vec<&str> = first_line
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let decoded: Vec<&str> = full.train[..words.len()]
        .iter()
        .map(|&t| full.vocab.word(t).unwrap())
        .collect();
    assert_eq!(decoded, words);
    assert_eq!(full.train[words.len()], eos);

    let cut = load_ptb(dir.path(), Some(100), Some(20)).unwrap();
    assert_eq!(
        cut.vocab, full.vocab,
        "vocab comes from the whole train file"
    );
    assert_eq!(cut.train, full.train[..100]);
    assert_eq!(cut.valid, full.valid[..20]);
    assert_eq!(
        load_ptb_test(dir.path(), &full.vocab)
            .unwrap()
            .iter()
            .filter(|&&t| t == eos)
            .count(),
        30
    );

    let again = tmp();
    write_text_corpus(again.path(), 200, 30, 7).unwrap();
    assert_eq!(
        load_ptb(again.path(), None, None).unwrap(),
        full,
        "same seed, same corpus"
    );
}

#[test]
fn generated_text_is_learnable() {
    // A bigram model fit on train has a validation perplexity far below the vocabulary size.
    let dir = tmp();
    write_text_corpus(dir.path(), 2000, 200, 1).unwrap();
    let c = load_ptb(dir.path(), None, None).unwrap();
    let v = c.vocab.len();
    let mut counts = vec![vec![1.0f64; v]; v];
    for w in c.train.windows(2) {
        counts[w[0] as usize][w[1] as usize] += 1.0;
    }
    let nll: f64 = c
        .valid
        .windows(2)
        .map(|w| {
            let row = &counts[w[0] as usize];
            -(row[w[1] as usize] / row.iter().sum::<f64>()).ln()
        })
        .sum::<f64>()
        / (c.valid.len() - 1) as f64;
    let ppl = nll.exp();
    eprintln!("bigram perplexity {ppl} (vocab {v})");
    assert!(ppl < v as f64 / 3.0, "bigram perplexity {ppl} vs vocab {v}");
}

#[test]
fn ptb_unknown_valid_word_names_file_and_line() {
    let dir = tmp();
    write_text_corpus(dir.path(), 50, 5, 3).unwrap();
    let valid = dir.path().join("ptb.valid.txt");
    let mut text = std::fs::read_to_string(&valid).unwrap();
    text.push_str(" the zebra sees a cat \n");
    std::fs::write(&valid, text).unwrap();
    assert_message(
        load_ptb(dir.path(), None, None),
        &[
            &path_str(valid),
            "line 6",
            "`zebra`",
            "not in the training vocabulary",
        ],
    );
}

#[test]
fn ptb_unknown_test_word_is_an_error() {
    let dir = tmp();
    write_text_corpus(dir.path(), 50, 5, 3).unwrap();
    let corpus = load_ptb(dir.path(), None, None).unwrap();
    let test = dir.path().join("ptb.test.txt");
    std::fs::write(&test, " the cat sees a dog \n a unicorn \n").unwrap();
    assert_message(
        load_ptb_test(dir.path(), &corpus.vocab),
        &[&path_str(test), "line 2", "`unicorn`"],
    );
}

#[test]
fn ptb_empty_files_are_errors() {
    let dir = tmp();
    write_text_corpus(dir.path(), 50, 5, 3).unwrap();
    let valid = dir.path().join("ptb.valid.txt");
    std::fs::write(&valid, "\n \n").unwrap();
    assert_message(
        load_ptb(dir.path(), None, None),
        &[&path_str(valid), "no words"],
    );
    let train = dir.path().join("ptb.train.txt");
    std::fs::write(&train, "").unwrap();
    assert_message(
        load_ptb(dir.path(), None, None),
        &[&path_str(train), "no words"],
    );
}

#[test]
fn ptb_missing_dir_and_file_say_how_to_get_the_data() {
    let dir = tmp();
    let missing = dir.path().join("nowhere");
    assert_message(
        load_ptb(&missing, None, None),
        &[&path_str(missing), "not found", "make setup", "treebank"],
    );
    write_text_corpus(dir.path(), 50, 5, 3).unwrap();
    let valid = dir.path().join("ptb.valid.txt");
    std::fs::remove_file(&valid).unwrap();
    assert_message(
        load_ptb(dir.path(), None, None),
        &[&path_str(valid), "not found", "make setup"],
    );
}

#[test]
fn ptb_binary_file_is_an_error() {
    let dir = tmp();
    write_text_corpus(dir.path(), 50, 5, 3).unwrap();
    let train = dir.path().join("ptb.train.txt");
    std::fs::write(&train, b" the cat \xff\xfe sees \n").unwrap();
    assert_message(
        load_ptb(dir.path(), None, None),
        &[&path_str(train), "not UTF-8", "byte 9"],
    );
}

// ---------- CIFAR-10 ----------

/// The (label, pixels) records of a CIFAR binary file, read independently of the loader.
fn raw_records(path: &Path) -> Vec<(i64, Vec<u8>)> {
    std::fs::read(path)
        .unwrap()
        .chunks(3073)
        .map(|r| (i64::from(r[0]), r[1..].to_vec()))
        .collect()
}

fn records(set: &ImageSet) -> Vec<(i64, Vec<u8>)> {
    (0..set.len())
        .map(|i| (set.labels[i], set.image(i).unwrap().to_vec()))
        .collect()
}

#[test]
fn cifar_round_trip_split_and_stats() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 20, 11).unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("data_batch_3.bin"))
            .unwrap()
            .len(),
        20 * 3073
    );
    let c = cfg(Dataset::Cifar10, dir.path(), 30);
    let data = load_images(&c, 5).unwrap();
    assert_eq!((data.train.len(), data.valid.len()), (70, 30));
    assert_eq!(
        (data.train.channels, data.train.height, data.train.width),
        (3, 32, 32)
    );
    assert_eq!(data.train.image_bytes(), 3072);
    assert_eq!(data.train.pixels.len(), 70 * 3072);
    assert_eq!(data.classes, 10);

    // Labels and pixels preserved: train ∪ valid is exactly the five files' records.
    let mut expected: Vec<_> = (1..=5)
        .flat_map(|i| raw_records(&dir.path().join(format!("data_batch_{i}.bin"))))
        .collect();
    let mut got = records(&data.train);
    got.extend(records(&data.valid));
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    // Seeded: same seed same split, another seed another split.
    assert_eq!(load_images(&c, 5).unwrap(), data);
    let other = load_images(&c, 6).unwrap();
    assert_ne!(other.valid.labels.len(), 0);
    assert_ne!(records(&other.valid), records(&data.valid));

    // Mean and std are those of the training part, per channel, in [0, 1].
    for ch in 0..3 {
        let values: Vec<f64> = (0..data.train.len())
            .flat_map(|i| data.train.image(i).unwrap()[ch * 1024..(ch + 1) * 1024].to_vec())
            .map(|v| f64::from(v) / 255.0)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!((f64::from(data.mean[ch]) - mean).abs() < 1e-4);
        assert!((f64::from(data.std[ch]) - var.sqrt()).abs() < 1e-4);
    }

    // Test split: the test file, in order.
    let test = load_images_test(&c).unwrap();
    assert_eq!(
        records(&test),
        raw_records(&dir.path().join("test_batch.bin"))
    );
}

#[test]
fn cifar_limits_apply_after_the_split() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 10, 2).unwrap();
    let full = load_images(&cfg(Dataset::Cifar10, dir.path(), 10), 9).unwrap();
    let mut c = cfg(Dataset::Cifar10, dir.path(), 10);
    c.train_limit = Some(25);
    c.val_limit = Some(4);
    let cut = load_images(&c, 9).unwrap();
    assert_eq!(cut.train.labels, full.train.labels[..25]);
    assert_eq!(cut.valid.labels, full.valid.labels[..4]);
    assert_eq!(cut.train.pixels, full.train.pixels[..25 * 3072]);
    c.train_limit = Some(1000);
    assert_eq!(load_images(&c, 9).unwrap().train.len(), 40);
}

/// Nearest-class-mean accuracy of `valid` given class means of `train`.
fn nearest_mean_accuracy(train: &ImageSet, valid: &ImageSet) -> f64 {
    let d = train.image_bytes();
    let mut means = vec![vec![0f64; d]; 10];
    let mut counts = [0f64; 10];
    for i in 0..train.len() {
        let c = train.labels[i] as usize;
        counts[c] += 1.0;
        for (m, &p) in means[c].iter_mut().zip(train.image(i).unwrap()) {
            *m += f64::from(p);
        }
    }
    for (m, n) in means.iter_mut().zip(counts) {
        m.iter_mut().for_each(|v| *v /= n.max(1.0));
    }
    let correct = (0..valid.len())
        .filter(|&i| {
            let x = valid.image(i).unwrap();
            let dist = |m: &Vec<f64>| -> f64 {
                m.iter()
                    .zip(x)
                    .map(|(a, &b)| (a - f64::from(b)).powi(2))
                    .sum()
            };
            let best = (0..10)
                .min_by(|&a, &b| dist(&means[a]).total_cmp(&dist(&means[b])))
                .unwrap();
            best as i64 == valid.labels[i]
        })
        .count();
    correct as f64 / valid.len() as f64
}

#[test]
fn generated_images_are_learnable() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 40, 4).unwrap();
    let data = load_images(&cfg(Dataset::Cifar10, dir.path(), 50), 0).unwrap();
    let acc = nearest_mean_accuracy(&data.train, &data.valid);
    eprintln!("CIFAR-like nearest-mean accuracy {acc}");
    assert!(acc > 0.5, "CIFAR-like accuracy {acc}");
    let idx_dir = tmp();
    write_idx(idx_dir.path(), 300, 10, false, 4).unwrap();
    let data = load_images(&cfg(Dataset::Idx, idx_dir.path(), 100), 0).unwrap();
    let acc = nearest_mean_accuracy(&data.train, &data.valid);
    eprintln!("IDX nearest-mean accuracy {acc}");
    assert!(acc > 0.5, "IDX accuracy {acc}");
}

#[test]
fn cifar_truncated_file_names_file_and_size() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 4, 1).unwrap();
    let f = dir.path().join("data_batch_2.bin");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    let size = (4 * 3073 - 100).to_string();
    assert_message(
        load_images(&cfg(Dataset::Cifar10, dir.path(), 2), 0),
        &[
            &path_str(f.clone()),
            &size,
            "not a multiple of the 3073-byte",
            "truncated",
        ],
    );
    std::fs::write(&f, b"").unwrap();
    assert_message(
        load_images(&cfg(Dataset::Cifar10, dir.path(), 2), 0),
        &[&path_str(f), "empty"],
    );
}

#[test]
fn cifar_bad_label_names_file_and_record() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 4, 1).unwrap();
    let f = dir.path().join("test_batch.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[2 * 3073] = 10;
    std::fs::write(&f, bytes).unwrap();
    let c = cfg(Dataset::Cifar10, dir.path(), 2);
    assert!(
        load_images(&c, 0).is_ok(),
        "search never reads the test batch"
    );
    assert_message(
        load_images_test(&c),
        &[&path_str(f), "record 2", "label 10", "0..10"],
    );
}

#[test]
fn cifar_missing_dir_and_file_say_how_to_get_the_data() {
    let dir = tmp();
    let missing = dir.path().join("cifar");
    assert_message(
        load_images(&cfg(Dataset::Cifar10, &missing, 2), 0),
        &[
            &path_str(missing),
            "not found",
            "CIFAR-10 binary version",
            "data_batch_1.bin",
        ],
    );
    write_cifar_batches(dir.path(), 2, 1).unwrap();
    let f = dir.path().join("data_batch_5.bin");
    std::fs::remove_file(&f).unwrap();
    assert_message(
        load_images(&cfg(Dataset::Cifar10, dir.path(), 2), 0),
        &[&path_str(f), "not found", "CIFAR-10 binary version"],
    );
}

#[test]
fn val_size_must_leave_training_images() {
    let dir = tmp();
    write_cifar_batches(dir.path(), 2, 1).unwrap();
    let d = path_str(dir.path().to_path_buf());
    assert_message(
        load_images(&cfg(Dataset::Cifar10, dir.path(), 10), 0),
        &["data.val_size = 10", "only 10 training images", &d],
    );
    assert_message(
        load_images(&cfg(Dataset::Cifar10, dir.path(), 0), 0),
        &["data.val_size = 0", &d],
    );
    assert!(load_images(&cfg(Dataset::Cifar10, dir.path(), 9), 0).is_ok());
}

// ---------- IDX ----------

#[test]
fn idx_plain_and_gz_load_the_same_images() {
    let plain = tmp();
    let gz = tmp();
    write_idx(plain.path(), 60, 20, false, 8).unwrap();
    write_idx(gz.path(), 60, 20, true, 8).unwrap();
    assert!(gz.path().join("train-images-idx3-ubyte.gz").is_file());
    assert!(!gz.path().join("train-images-idx3-ubyte").exists());
    assert_eq!(
        std::fs::metadata(plain.path().join("train-images-idx3-ubyte"))
            .unwrap()
            .len(),
        16 + 60 * 784
    );
    let a = load_images(&cfg(Dataset::Idx, plain.path(), 15), 3).unwrap();
    let b = load_images(&cfg(Dataset::Idx, gz.path(), 15), 3).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.train.len(), a.valid.len()), (45, 15));
    assert_eq!(
        (a.train.channels, a.train.height, a.train.width),
        (1, 28, 28)
    );
    assert_eq!((a.mean.len(), a.std.len()), (1, 1));
    let test = load_images_test(&cfg(Dataset::Idx, gz.path(), 15)).unwrap();
    assert_eq!(test.len(), 20);
    let raw = std::fs::read(plain.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let expected: Vec<i64> = raw[8..].iter().map(|&l| i64::from(l)).collect();
    assert_eq!(test.labels, expected);
    assert_eq!(
        load_images_test(&cfg(Dataset::Idx, plain.path(), 15)).unwrap(),
        test
    );
}

#[test]
fn real_fashion_mnist_loads() {
    let dir = Path::new(FASHION);
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("skipped: {FASHION} not present (apt-get install dataset-fashion-mnist)");
        return;
    }
    let c = cfg(Dataset::Idx, dir, 5000);
    let data = load_images(&c, 0).unwrap();
    assert_eq!((data.train.len(), data.valid.len()), (55_000, 5_000));
    assert_eq!(
        (data.train.channels, data.train.height, data.train.width),
        (1, 28, 28)
    );
    for set in [&data.train, &data.valid] {
        let mut seen = [false; 10];
        set.labels.iter().for_each(|&l| seen[l as usize] = true);
        assert!(seen.iter().all(|&s| s), "labels cover 10 classes");
    }
    eprintln!(
        "Fashion-MNIST train mean {} std {}",
        data.mean[0], data.std[0]
    );
    // Fashion-MNIST's training mean is about 0.286, its std about 0.353.
    assert!((data.mean[0] - 0.286).abs() < 0.01, "mean {}", data.mean[0]);
    assert!((data.std[0] - 0.353).abs() < 0.01, "std {}", data.std[0]);
    assert_eq!(load_images_test(&c).unwrap().len(), 10_000);
}

#[test]
fn idx_bad_magic_names_file() {
    let dir = tmp();
    write_idx(dir.path(), 10, 10, false, 1).unwrap();
    let f = dir.path().join("train-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[3] = 0x03;
    std::fs::write(&f, bytes).unwrap();
    assert_message(
        load_images(&cfg(Dataset::Idx, dir.path(), 2), 0),
        &[
            &path_str(f),
            "bad IDX magic",
            "0x00000803",
            "expected 0x00000801",
            "labels",
        ],
    );
}

#[test]
fn idx_mismatched_counts_name_both_files() {
    let dir = tmp();
    let other = tmp();
    write_idx(dir.path(), 10, 12, false, 1).unwrap();
    write_idx(other.path(), 10, 11, false, 1).unwrap();
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::copy(other.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    assert_message(
        load_images_test(&cfg(Dataset::Idx, dir.path(), 2)),
        &[
            &path_str(dir.path().join("t10k-images-idx3-ubyte")),
            &path_str(labels),
            "12 images",
            "11 labels",
        ],
    );
}

#[test]
fn idx_truncated_payload_and_header_name_file() {
    let dir = tmp();
    write_idx(dir.path(), 10, 10, false, 1).unwrap();
    let f = dir.path().join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
    let c = cfg(Dataset::Idx, dir.path(), 2);
    assert_message(
        load_images(&c, 0),
        &[
            &path_str(f.clone()),
            "payload is 7839 bytes",
            "10×28×28 need 7840",
        ],
    );
    std::fs::write(&f, &bytes[..10]).unwrap();
    assert_message(
        load_images(&c, 0),
        &[&path_str(f.clone()), "header truncated"],
    );
    std::fs::write(&f, &bytes[..2]).unwrap();
    assert_message(
        load_images(&c, 0),
        &[&path_str(f), "shorter than the 4-byte magic"],
    );
}

#[test]
fn idx_huge_header_dimensions_do_not_panic() {
    let dir = tmp();
    write_idx(dir.path(), 10, 10, false, 1).unwrap();
    let f = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[4..16].copy_from_slice(&[0xff; 12]);
    std::fs::write(&f, bytes).unwrap();
    assert_message(
        load_images(&cfg(Dataset::Idx, dir.path(), 2), 0),
        &[&path_str(f), "malformed IDX"],
    );
}

#[test]
fn idx_broken_gzip_names_file() {
    let dir = tmp();
    write_idx(dir.path(), 10, 10, true, 1).unwrap();
    let f = dir.path().join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let c = cfg(Dataset::Idx, dir.path(), 2);
    assert_message(
        load_images(&c, 0),
        &[&path_str(f.clone()), "not a valid gzip file"],
    );
    std::fs::write(&f, b"this is not gzip at all").unwrap();
    assert_message(load_images(&c, 0), &[&path_str(f), "not a valid gzip file"]);
}

#[test]
fn idx_bad_label_and_missing_files() {
    let dir = tmp();
    write_idx(dir.path(), 10, 10, false, 1).unwrap();
    let f = dir.path().join("train-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[8 + 7] = 200;
    std::fs::write(&f, bytes).unwrap();
    let c = cfg(Dataset::Idx, dir.path(), 2);
    assert_message(
        load_images(&c, 0),
        &[&path_str(f.clone()), "record 7", "label 200"],
    );
    std::fs::remove_file(&f).unwrap();
    assert_message(
        load_images(&c, 0),
        &[&path_str(f), "not found", "dataset-fashion-mnist"],
    );
    let missing = dir.path().join("fmnist");
    assert_message(
        load_images(&cfg(Dataset::Idx, &missing, 2), 0),
        &[
            &path_str(missing),
            "not found",
            "apt-get install dataset-fashion-mnist",
        ],
    );
}

// ---------- dispatch ----------

#[test]
fn load_dispatches_on_the_dataset() {
    let text = tmp();
    write_text_corpus(text.path(), 30, 5, 1).unwrap();
    let mut c = cfg(Dataset::Ptb, text.path(), 5000);
    c.train_limit = Some(40);
    match load(&c, 0).unwrap() {
        TaskData::Text(corpus) => assert_eq!(corpus.train.len(), 40),
        TaskData::Images(_) => panic!("ptb must load as text"),
    }
    assert_message(load_images(&c, 0), &["\"ptb\" is text"]);
    assert_message(load_images_test(&c), &["\"ptb\" is text"]);

    let images = tmp();
    write_cifar_batches(images.path(), 3, 1).unwrap();
    // A broken test batch does not matter to `load`: it never reads the test split.
    std::fs::write(images.path().join("test_batch.bin"), b"junk").unwrap();
    match load(&cfg(Dataset::Cifar10, images.path(), 5), 0).unwrap() {
        TaskData::Images(data) => assert_eq!((data.train.len(), data.valid.len()), (10, 5)),
        TaskData::Text(_) => panic!("cifar10 must load as images"),
    }
}
