//! Penn Treebank: the real files' sizes, generated corpora, and text errors.

use super::*;

#[test]
fn real_ptb_has_the_standard_sizes() {
    let Some(dir) = require_ptb() else { return };
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
