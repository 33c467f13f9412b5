//! IDX files (plain, gzipped, real Fashion-MNIST), IDX errors, and `load`'s dispatch.

use super::*;

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
    let Some(dir) = require_fashion_mnist() else {
        return;
    };
    let c = cfg(Dataset::Idx, &dir, 5000);
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
