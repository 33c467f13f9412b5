//! Penn Treebank (Mikolov's ptb.{train,valid,test}.txt): the vocabulary from the
//! training file and the three texts as token-id streams.
//!
//! Tokenisation: each non-blank line's whitespace-separated words, then
//! [`EOS`]. Blank lines are skipped (the real files have none). The vocabulary
//! is every distinct token of the training file (including [`EOS`]), ordered
//! by frequency, most frequent first, ties broken by the word's byte order,
//! so ids are the same on every machine. Penn Treebank already maps rare
//! words to `<unk>`, so a validation or test word that the vocabulary lacks
//! is an error, not a silent `<unk>`.

use std::collections::HashMap;
use std::path::Path;

use super::error::{read_file, require_dir, PTB_HINT};
use super::{Corpus, DataError, Vocab};

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";
/// The training file's name.
pub const TRAIN_FILE: &str = "ptb.train.txt";
/// The validation file's name.
pub const VALID_FILE: &str = "ptb.valid.txt";
/// The test file's name.
pub const TEST_FILE: &str = "ptb.test.txt";

impl Vocab {
    /// Number of words (the language model's input and output size).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary has no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of `word`, if it is in the vocabulary. A linear scan: for many
    /// look-ups build [`Vocab::index`] once.
    pub fn id(&self, word: &str) -> Option<i64> {
        self.words
            .iter()
            .position(|w| w == word)
            .and_then(|i| i64::try_from(i).ok())
    }

    /// The word with id `id`, if there is one.
    pub fn word(&self, id: i64) -> Option<&str> {
        let i = usize::try_from(id).ok()?;
        self.words.get(i).map(String::as_str)
    }

    /// A word → id map for bulk look-ups.
    pub fn index(&self) -> HashMap<&str, i64> {
        self.words
            .iter()
            .zip(0i64..)
            .map(|(w, i)| (w.as_str(), i))
            .collect()
    }
}

/// Load the vocabulary (from the whole training file) and the training and
/// validation token streams from `dir`, then keep only the first
/// `train_limit` / `val_limit` tokens of each stream when given.
///
/// Errors: the directory or a file is missing (with how to get the data), a
/// file is unreadable, not UTF-8 or has no words, or a validation word is not
/// in the vocabulary (naming file and line).
pub fn load_ptb(
    dir: &Path,
    train_limit: Option<usize>,
    val_limit: Option<usize>,
) -> Result<Corpus, DataError> {
    require_dir(dir, PTB_HINT)?;
    let train_path = dir.join(TRAIN_FILE);
    let train_text = read_text(&train_path)?;
    let vocab = build_vocab(&train_text);
    if vocab.is_empty() {
        return Err(DataError::EmptyText { path: train_path });
    }
    let index = vocab.index();
    let mut train = tokenize(&train_path, &train_text, &index)?;
    drop(train_text);
    let valid_path = dir.join(VALID_FILE);
    let mut valid = tokenize(&valid_path, &read_text(&valid_path)?, &index)?;
    if let Some(n) = train_limit {
        train.truncate(n);
    }
    if let Some(n) = val_limit {
        valid.truncate(n);
    }
    Ok(Corpus {
        vocab,
        train,
        valid,
    })
}

/// The test text of `dir` as ids of `vocab` (the vocabulary of the training
/// file, as returned by [`load_ptb`]). Used only by `nas-actor retrain`.
pub fn load_ptb_test(dir: &Path, vocab: &Vocab) -> Result<Vec<i64>, DataError> {
    require_dir(dir, PTB_HINT)?;
    let path = dir.join(TEST_FILE);
    tokenize(&path, &read_text(&path)?, &vocab.index())
}

/// Read `path` as UTF-8 text.
fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = read_file(path, PTB_HINT)?;
    String::from_utf8(bytes).map_err(|e| DataError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The tokens of `text`: each non-blank line's words, then [`EOS`].
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .flat_map(|(n, line)| {
            line.split_whitespace()
                .chain(std::iter::once(EOS))
                .map(move |w| (n + 1, w))
        })
}

/// The vocabulary of `text`, most frequent first, ties by byte order.
fn build_vocab(text: &str) -> Vocab {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, w) in tokens(text) {
        *counts.entry(w).or_insert(0) += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    Vocab {
        words: ranked.into_iter().map(|(w, _)| w.to_string()).collect(),
    }
}

/// `text` (read from `path`) as ids of `index`; an unknown word or no words at all is an error.
fn tokenize(path: &Path, text: &str, index: &HashMap<&str, i64>) -> Result<Vec<i64>, DataError> {
    let ids = tokens(text)
        .map(|(line, w)| {
            index.get(w).copied().ok_or_else(|| DataError::UnknownWord {
                path: path.to_path_buf(),
                line,
                word: w.to_string(),
            })
        })
        .collect::<Result<Vec<i64>, DataError>>()?;
    if ids.is_empty() {
        return Err(DataError::EmptyText {
            path: path.to_path_buf(),
        });
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_ordered_by_frequency_then_word() {
        let v = build_vocab(" b a b \n c a b \n\n");
        assert_eq!(v.words, vec!["b", "<eos>", "a", "c"]);
        assert_eq!(v.id("a"), Some(2));
        assert_eq!(v.word(3), Some("c"));
        assert_eq!(v.word(4), None);
        assert_eq!(v.word(-1), None);
        assert_eq!(v.id("zzz"), None);
    }

    #[test]
    fn tokens_carry_one_based_line_numbers_and_skip_blank_lines() {
        let t: Vec<(usize, &str)> = tokens("x y\n\n z \n").collect();
        assert_eq!(t, vec![(1, "x"), (1, "y"), (1, EOS), (3, "z"), (3, EOS)]);
    }
}
