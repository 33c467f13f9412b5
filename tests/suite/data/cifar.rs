//! CIFAR-10 binary batches: round trip, seeded split, statistics, limits,
//! the generators' learnability, and CIFAR/split errors.

use super::*;

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
