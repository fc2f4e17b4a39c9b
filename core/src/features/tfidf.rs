//! TF-IDF text features, matching scikit-learn's `TfidfVectorizer` (word analyzer).
//!
//! [`Tfidf::fit`] learns a vocabulary and inverse document frequencies from a corpus;
//! [`Tfidf::transform_into`] turns one document into a dense row. The arithmetic follows
//! `sklearn.feature_extraction.text` step by step, in `f64`, so the same settings and corpus give
//! the same vocabulary (same column order), the same `idf_` and the same matrix as
//! `TfidfVectorizer(...).fit(fit_docs).transform(docs)`; `scripts/check-tfidf.sh` checks this
//! against a real scikit-learn on the `assets/fortunes` corpus.
//!
//! The steps, with scikit-learn's names:
//! - analyzer: optional lowercasing (`str.lower`), `re.findall(token_pattern)` (with one capture
//!   group, the group is the token), then word n-grams joined by one space;
//! - `min_df` / `max_df`: a [`DocFrequency::Count`] is a number of documents, a
//!   [`DocFrequency::Fraction`] is multiplied by the number of fit documents; a term is kept when
//!   `min <= df <= max`;
//! - `max_features`: the kept terms with the largest total count over the fit corpus; equal counts
//!   go to the alphabetically first term;
//! - idf: `ln((1 + n) / (1 + df)) + 1` (`smooth_idf`) or `ln(n / df) + 1`;
//! - value: `tf * idf` with `tf` the raw count or `1 + ln(count)` (`sublinear_tf`), then the row is
//!   scaled to unit L2 or L1 norm (all-zero rows stay zero).
//!
//! Known differences from scikit-learn:
//! - Token patterns run on Rust's `regex` crate, not Python's `re`: look-around and
//!   back-references are rejected, and Unicode `\w` / `\b` differ for a few rare characters
//!   (Rust counts combining marks and all connector punctuation as word characters, Python counts
//!   superscripts and vulgar fractions). ASCII and ordinary accented Latin text tokenise the same.
//! - Ties at the `max_features` cut-off: scikit-learn means to keep the alphabetically first of
//!   the tied terms (it sorts the features by name before ranking), but ranks them with NumPy's
//!   default, unstable `argsort`, so which tied terms it keeps depends on the NumPy build and
//!   the CPU. Kiln always keeps the alphabetically first ones.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::FeatureError;

/// scikit-learn's default token pattern: runs of two or more word characters.
pub const DEFAULT_TOKEN_PATTERN: &str = r"(?u)\b\w\w+\b";

/// How text becomes features; the fields and defaults are scikit-learn's `TfidfVectorizer`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TfidfSettings {
    /// Lowercase the text before tokenising.
    pub lowercase: bool,
    /// The regular expression whose matches are the tokens (its one capture group, if it has one).
    pub token_pattern: String,
    /// The smallest and largest n of the word n-grams; n-grams are joined by a single space.
    pub ngram_range: (usize, usize),
    /// Drop terms that occur in fewer documents than this.
    pub min_df: DocFrequency,
    /// Drop terms that occur in more documents than this.
    pub max_df: DocFrequency,
    /// Keep only this many terms, the most frequent over the fit corpus.
    pub max_features: Option<usize>,
    /// Use `1 + ln(count)` instead of the raw count.
    pub sublinear_tf: bool,
    /// Add one to every document frequency, as if one extra document held every term.
    pub smooth_idf: bool,
    /// Scale every row to unit norm.
    pub norm: Option<Norm>,
}

impl Default for TfidfSettings {
    fn default() -> Self {
        Self {
            lowercase: true,
            token_pattern: DEFAULT_TOKEN_PATTERN.to_owned(),
            ngram_range: (1, 1),
            min_df: DocFrequency::Count(1),
            max_df: DocFrequency::Fraction(1.0),
            max_features: None,
            sublinear_tf: false,
            smooth_idf: true,
            norm: Some(Norm::L2),
        }
    }
}

/// A document-frequency threshold: a number of documents, or a fraction of the fit corpus.
///
/// In JSON an integer (`2`) is a count and a number with a fraction or exponent (`0.9`, `1.0`) is
/// a fraction, as `int` and `float` are in scikit-learn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocFrequency {
    /// A number of documents (at least 1).
    Count(usize),
    /// A fraction of the fit documents, in `[0, 1]`.
    Fraction(f64),
}

impl DocFrequency {
    /// The threshold in documents for a corpus of `n_docs` (scikit-learn's `max_df * n_doc`).
    fn documents(self, n_docs: usize) -> f64 {
        match self {
            Self::Count(count) => count as f64,
            Self::Fraction(fraction) => fraction * n_docs as f64,
        }
    }

    fn validate(self, setting: &'static str) -> Result<(), FeatureError> {
        let reason = match self {
            Self::Count(0) => "a count must be at least 1 document".to_owned(),
            Self::Fraction(f) if !(0.0..=1.0).contains(&f) => {
                format!("a fraction must be in [0, 1], got {f}")
            }
            _ => return Ok(()),
        };
        Err(FeatureError::BadSetting { setting, reason })
    }
}

/// The norm every TF-IDF row is scaled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Sum of absolute values is 1.
    L1,
    /// Euclidean length is 1.
    L2,
}

impl TfidfSettings {
    /// Checks everything that does not depend on the corpus, as scikit-learn does when fitting.
    pub fn validate(&self) -> Result<(), FeatureError> {
        let (min_n, max_n) = self.ngram_range;
        if min_n == 0 || min_n > max_n {
            return Err(FeatureError::BadSetting {
                setting: "ngram_range",
                reason: format!(
                    "({min_n}, {max_n}) must satisfy 1 <= min_n <= max_n (lower boundary larger \
                     than the upper boundary, or zero)"
                ),
            });
        }
        self.min_df.validate("min_df")?;
        self.max_df.validate("max_df")?;
        if self.max_features == Some(0) {
            return Err(FeatureError::BadSetting {
                setting: "max_features",
                reason: "must be at least 1, or None for no limit".to_owned(),
            });
        }
        TokenPattern::compile(&self.token_pattern).map(drop)
    }

    /// The `(min, max)` document counts a kept term must lie within, for `n_docs` documents.
    fn doc_count_bounds(&self, n_docs: usize) -> Result<(f64, f64), FeatureError> {
        let low = self.min_df.documents(n_docs);
        let high = self.max_df.documents(n_docs);
        if high < low {
            return Err(FeatureError::BadSetting {
                setting: "max_df",
                reason: format!(
                    "max_df corresponds to < documents than min_df ({high} < {low} of {n_docs} \
                     documents)"
                ),
            });
        }
        Ok((low, high))
    }
}

/// A compiled token pattern.
#[derive(Debug, Clone)]
struct TokenPattern {
    regex: Regex,
    /// The pattern has one capture group, and the group (not the whole match) is the token.
    group: bool,
}

impl TokenPattern {
    fn compile(pattern: &str) -> Result<Self, FeatureError> {
        let bad = |reason: String| FeatureError::BadTokenPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let regex = Regex::new(pattern).map_err(|e| bad(e.to_string()))?;
        let groups = regex.captures_len() - 1;
        if groups > 1 {
            return Err(bad(format!(
                "it has {groups} capture groups; at most one is allowed (its text is the token)"
            )));
        }
        Ok(Self {
            regex,
            group: groups == 1,
        })
    }

    /// The tokens of `text`, as Python's `re.findall` returns them.
    fn tokens<'t>(&self, text: &'t str) -> Vec<&'t str> {
        if self.group {
            let group = |c: regex::Captures<'t>| c.get(1).map_or("", |m| m.as_str());
            self.regex.captures_iter(text).map(group).collect()
        } else {
            self.regex.find_iter(text).map(|m| m.as_str()).collect()
        }
    }
}

/// Calls `each` on every term of `doc` (tokens and n-grams, with repeats), in no useful order.
fn analyze(
    settings: &TfidfSettings,
    pattern: &TokenPattern,
    doc: &str,
    mut each: impl FnMut(&str),
) {
    let text = if settings.lowercase {
        Cow::Owned(doc.to_lowercase())
    } else {
        Cow::Borrowed(doc)
    };
    let tokens = pattern.tokens(&text);
    let (min_n, max_n) = settings.ngram_range;
    let mut gram = String::new();
    for n in min_n.max(1)..=max_n.min(tokens.len()) {
        for window in tokens.windows(n) {
            if let [token] = window {
                each(token);
            } else {
                gram.clear();
                for (i, token) in window.iter().enumerate() {
                    if i > 0 {
                        gram.push(' ');
                    }
                    gram.push_str(token);
                }
                each(&gram);
            }
        }
    }
}

/// What fitting counts for one term.
struct TermStats {
    /// Documents the term occurs in.
    df: usize,
    /// Occurrences over the whole corpus.
    tf: u64,
    /// The last document that counted towards `df`.
    last_doc: usize,
}

/// Counts every term of `docs`.
fn count_terms<S: AsRef<str>>(
    settings: &TfidfSettings,
    pattern: &TokenPattern,
    docs: &[S],
) -> HashMap<String, TermStats> {
    let mut stats: HashMap<String, TermStats> = HashMap::new();
    for (doc_index, doc) in docs.iter().enumerate() {
        analyze(settings, pattern, doc.as_ref(), |term| {
            match stats.get_mut(term) {
                Some(s) => {
                    s.tf += 1;
                    if s.last_doc != doc_index {
                        s.df += 1;
                        s.last_doc = doc_index;
                    }
                }
                None => {
                    let first = TermStats {
                        df: 1,
                        tf: 1,
                        last_doc: doc_index,
                    };
                    stats.insert(term.to_owned(), first);
                }
            }
        });
    }
    stats
}

/// Applies `min_df`, `max_df` and `max_features`; returns `(term, df)` sorted by term.
fn select_terms(
    settings: &TfidfSettings,
    stats: HashMap<String, TermStats>,
    n_docs: usize,
) -> Result<Vec<(String, usize)>, FeatureError> {
    if stats.is_empty() {
        return Err(FeatureError::EmptyVocabulary);
    }
    let (low, high) = settings.doc_count_bounds(n_docs)?;
    let mut kept: Vec<(String, TermStats)> = stats
        .into_iter()
        .filter(|(_, s)| (low..=high).contains(&(s.df as f64)))
        .collect();
    if let Some(limit) = settings.max_features.filter(|&limit| kept.len() > limit) {
        // Most frequent first; equal counts in alphabetical order, as scikit-learn intends.
        kept.sort_unstable_by(|(a, sa), (b, sb)| sb.tf.cmp(&sa.tf).then_with(|| a.cmp(b)));
        kept.truncate(limit);
    }
    if kept.is_empty() {
        return Err(FeatureError::EmptyVocabulary);
    }
    kept.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    Ok(kept.into_iter().map(|(term, s)| (term, s.df)).collect())
}

/// The inverse document frequency of a term in `df` of `n_docs` documents.
fn idf(df: usize, n_docs: usize, smooth: bool) -> f64 {
    let extra = usize::from(smooth);
    ((n_docs + extra) as f64 / (df + extra) as f64).ln() + 1.0
}

/// A fitted TF-IDF vectorizer: the settings, the vocabulary (the column order, sorted) and the
/// idf of every column.
///
/// Build one with [`Tfidf::fit`], [`Tfidf::from_parts`] or by deserialising (which checks it as
/// `from_parts` does). The fields are public to read and serialise; the token pattern and the
/// term index are compiled when the value is built, so changing a field afterwards is not seen
/// by [`Tfidf::transform_into`]: build a new value instead.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "TfidfParts")]
pub struct Tfidf {
    pub settings: TfidfSettings,
    pub vocabulary: Vec<String>,
    pub idf: Vec<f64>,
    #[serde(skip)]
    compiled: Compiled,
}

/// What a [`Tfidf`] derives from its fields, so that transforming is fast.
#[derive(Debug, Clone)]
struct Compiled {
    pattern: TokenPattern,
    index: HashMap<String, usize>,
}

/// The serialised form of a [`Tfidf`].
#[derive(Deserialize)]
struct TfidfParts {
    settings: TfidfSettings,
    vocabulary: Vec<String>,
    idf: Vec<f64>,
}

impl TryFrom<TfidfParts> for Tfidf {
    type Error = FeatureError;

    fn try_from(parts: TfidfParts) -> Result<Self, FeatureError> {
        Self::from_parts(parts.settings, parts.vocabulary, parts.idf)
    }
}

impl PartialEq for Tfidf {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
            && self.vocabulary == other.vocabulary
            && self.idf == other.idf
    }
}

impl std::fmt::Debug for Tfidf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tfidf")
            .field("settings", &self.settings)
            .field("vocabulary", &self.vocabulary)
            .field("idf", &self.idf)
            .finish_non_exhaustive()
    }
}

impl Tfidf {
    /// Learns the vocabulary and idf from `docs`, as scikit-learn's `TfidfVectorizer.fit`.
    pub fn fit<S: AsRef<str>>(settings: &TfidfSettings, docs: &[S]) -> Result<Tfidf, FeatureError> {
        settings.validate()?;
        let pattern = TokenPattern::compile(&settings.token_pattern)?;
        let stats = count_terms(settings, &pattern, docs);
        let terms = select_terms(settings, stats, docs.len())?;
        let idf = terms
            .iter()
            .map(|&(_, df)| idf(df, docs.len(), settings.smooth_idf))
            .collect();
        let vocabulary = terms.into_iter().map(|(term, _)| term).collect();
        Ok(Self::assemble(settings.clone(), vocabulary, idf, pattern))
    }

    /// Rebuilds a fitted vectorizer from its fields, checking that they fit together: valid
    /// settings, a non-empty vocabulary without repeats, and one idf per term.
    pub fn from_parts(
        settings: TfidfSettings,
        vocabulary: Vec<String>,
        idf: Vec<f64>,
    ) -> Result<Tfidf, FeatureError> {
        settings.validate()?;
        let pattern = TokenPattern::compile(&settings.token_pattern)?;
        if vocabulary.is_empty() {
            return Err(FeatureError::EmptyVocabulary);
        }
        if idf.len() != vocabulary.len() {
            let reason = format!("{} values for {} terms", idf.len(), vocabulary.len());
            return Err(FeatureError::BadSetting {
                setting: "idf",
                reason,
            });
        }
        let tfidf = Self::assemble(settings, vocabulary, idf, pattern);
        if tfidf.compiled.index.len() != tfidf.vocabulary.len() {
            let reason = "a term occurs more than once".to_owned();
            return Err(FeatureError::BadSetting {
                setting: "vocabulary",
                reason,
            });
        }
        Ok(tfidf)
    }

    fn assemble(
        settings: TfidfSettings,
        vocabulary: Vec<String>,
        idf: Vec<f64>,
        pattern: TokenPattern,
    ) -> Self {
        let index = vocabulary
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        let compiled = Compiled { pattern, index };
        Self {
            settings,
            vocabulary,
            idf,
            compiled,
        }
    }

    /// The number of columns: the size of the vocabulary.
    pub fn dims(&self) -> usize {
        self.vocabulary.len()
    }

    /// Writes the TF-IDF vector of `doc` into `out` (length [`Tfidf::dims`]); unknown terms are
    /// ignored. Computed in `f64`, stored as `f32`.
    ///
    /// # Panics
    /// If `out.len() != self.dims()`.
    pub fn transform_into(&self, doc: &str, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.dims(),
            "TF-IDF output row has the wrong length"
        );
        out.fill(0.0);
        for (column, value) in self.sparse_row(doc) {
            out[column] = value as f32;
        }
    }

    /// The TF-IDF vector of `doc` in `f64`, exactly as scikit-learn computes it.
    pub fn transform_f64(&self, doc: &str) -> Vec<f64> {
        let mut row = vec![0.0; self.dims()];
        for (column, value) in self.sparse_row(doc) {
            row[column] = value;
        }
        row
    }

    /// Whether `term` (as the analyzer writes it) is in the vocabulary.
    pub fn knows(&self, term: &str) -> bool {
        self.compiled.index.contains_key(term)
    }

    /// The tokens of `text` by the token pattern alone: no lowercasing, no n-grams.
    pub fn tokens<'t>(&self, text: &'t str) -> Vec<&'t str> {
        self.compiled.pattern.tokens(text)
    }

    /// The analyzer: the terms of `doc` (tokens, then n-grams), after lowercasing, with repeats.
    pub fn terms(&self, doc: &str) -> Vec<String> {
        let mut terms = Vec::new();
        analyze(&self.settings, &self.compiled.pattern, doc, |t| {
            terms.push(t.to_owned())
        });
        terms
    }

    /// The non-zero entries of the TF-IDF row of `doc`, as `(column, value)` by column.
    fn sparse_row(&self, doc: &str) -> Vec<(usize, f64)> {
        let mut row = self.term_counts(doc);
        for (column, value) in &mut row {
            let tf = if self.settings.sublinear_tf {
                value.ln() + 1.0
            } else {
                *value
            };
            *value = tf * self.idf.get(*column).copied().unwrap_or(0.0);
        }
        if let Some(norm) = self.settings.norm {
            normalize(&mut row, norm);
        }
        row
    }

    /// How often each known term occurs in `doc`, as `(column, count)` by column.
    fn term_counts(&self, doc: &str) -> Vec<(usize, f64)> {
        let index = &self.compiled.index;
        let mut columns = Vec::new();
        analyze(&self.settings, &self.compiled.pattern, doc, |term| {
            columns.extend(index.get(term).copied());
        });
        columns.sort_unstable();
        let mut counts: Vec<(usize, f64)> = Vec::new();
        for column in columns {
            match counts.last_mut() {
                Some((last, count)) if *last == column => *count += 1.0,
                _ => counts.push((column, 1.0)),
            }
        }
        counts
    }
}

/// Scales `row` to unit norm, as `sklearn.preprocessing.normalize`; a zero row stays zero.
fn normalize(row: &mut [(usize, f64)], norm: Norm) {
    let total = match norm {
        Norm::L1 => row.iter().map(|(_, v)| v.abs()).sum::<f64>(),
        Norm::L2 => row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt(),
    };
    if total != 0.0 {
        row.iter_mut().for_each(|(_, v)| *v /= total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(settings: &TfidfSettings, docs: &[&str]) -> Tfidf {
        Tfidf::fit(settings, docs).expect("fit")
    }

    fn vocab(settings: &TfidfSettings, docs: &[&str]) -> Vec<String> {
        fit(settings, docs).vocabulary
    }

    fn with(edit: impl FnOnce(&mut TfidfSettings)) -> TfidfSettings {
        let mut settings = TfidfSettings::default();
        edit(&mut settings);
        settings
    }

    fn assert_close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    fn bad_setting(result: Result<Tfidf, FeatureError>) -> &'static str {
        match result {
            Err(FeatureError::BadSetting { setting, .. }) => setting,
            other => panic!("expected BadSetting, got {other:?}"),
        }
    }

    const DFS: [&str; 3] = ["aa bb cc", "aa bb", "aa"]; // df: aa 3, bb 2, cc 1

    #[test]
    fn vocabulary_is_sorted_and_idf_is_smoothed() {
        let tfidf = fit(
            &TfidfSettings::default(),
            &["The cat sat", "the dog sat down", "a cat"],
        );
        assert_eq!(tfidf.vocabulary, ["cat", "dog", "down", "sat", "the"]);
        let (once, twice) = ((4.0f64 / 2.0).ln() + 1.0, (4.0f64 / 3.0).ln() + 1.0);
        assert_close(&tfidf.idf, &[twice, once, once, twice, twice]);
        assert_eq!(tfidf.dims(), 5);
    }

    #[test]
    fn idf_without_smoothing() {
        let settings = with(|s| s.smooth_idf = false);
        let tfidf = fit(&settings, &["aa bb", "aa", "aa", "cc"]);
        let expected = [
            (4.0f64 / 3.0).ln() + 1.0,
            4.0f64.ln() + 1.0,
            4.0f64.ln() + 1.0,
        ];
        assert_close(&tfidf.idf, &expected);
    }

    #[test]
    fn max_features_breaks_ties_alphabetically() {
        let settings = with(|s| s.max_features = Some(2));
        assert_eq!(vocab(&settings, &["zz aa", "yy bb"]), ["aa", "bb"]);
        // Total counts: bb 2, cc 2, aa 1, dd 1; the third place goes to aa.
        let settings = with(|s| s.max_features = Some(3));
        assert_eq!(
            vocab(&settings, &["bb bb cc dd", "cc aa"]),
            ["aa", "bb", "cc"]
        );
        let settings = with(|s| s.max_features = Some(10));
        assert_eq!(vocab(&settings, &["bb aa"]), ["aa", "bb"]);
    }

    #[test]
    fn max_features_ranks_by_total_count_not_document_count() {
        let settings = with(|s| s.max_features = Some(1));
        assert_eq!(vocab(&settings, &["aa bb", "aa", "bb bb bb"]), ["bb"]);
    }

    #[test]
    fn min_df_and_max_df_as_counts() {
        assert_eq!(
            vocab(&with(|s| s.min_df = DocFrequency::Count(2)), &DFS),
            ["aa", "bb"]
        );
        assert_eq!(
            vocab(&with(|s| s.max_df = DocFrequency::Count(2)), &DFS),
            ["bb", "cc"]
        );
        let both = with(|s| {
            s.min_df = DocFrequency::Count(2);
            s.max_df = DocFrequency::Count(2);
        });
        assert_eq!(vocab(&both, &DFS), ["bb"]);
    }

    #[test]
    fn min_df_and_max_df_as_fractions() {
        // 0.5 of 3 documents is 1.5.
        assert_eq!(
            vocab(&with(|s| s.min_df = DocFrequency::Fraction(0.5)), &DFS),
            ["aa", "bb"]
        );
        assert_eq!(
            vocab(&with(|s| s.max_df = DocFrequency::Fraction(0.5)), &DFS),
            ["cc"]
        );
        let bounds_inclusive = with(|s| s.min_df = DocFrequency::Fraction(1.0));
        assert_eq!(vocab(&bounds_inclusive, &DFS), ["aa"]);
    }

    #[test]
    fn pruning_everything_is_an_empty_vocabulary() {
        let settings = with(|s| s.min_df = DocFrequency::Count(4));
        let settings = TfidfSettings {
            max_df: DocFrequency::Count(5),
            ..settings
        };
        assert!(matches!(
            Tfidf::fit(&settings, &DFS),
            Err(FeatureError::EmptyVocabulary)
        ));
        let none: [&str; 0] = [];
        let default = TfidfSettings::default();
        assert!(matches!(
            Tfidf::fit(&default, &none),
            Err(FeatureError::EmptyVocabulary)
        ));
        let only_short = Tfidf::fit(&default, &["a b c", ""]);
        assert!(matches!(only_short, Err(FeatureError::EmptyVocabulary)));
    }

    #[test]
    fn bigrams_and_ngram_ranges() {
        let tfidf = fit(&with(|s| s.ngram_range = (1, 2)), &["Hello big world"]);
        let expected = ["big", "big world", "hello", "hello big", "world"];
        assert_eq!(tfidf.vocabulary, expected);
        assert_eq!(
            tfidf.terms("big  BIG big"),
            ["big", "big", "big", "big big", "big big"]
        );
        let tfidf = fit(&with(|s| s.ngram_range = (2, 3)), &["aa bb", "cc dd ee"]);
        assert_eq!(tfidf.vocabulary, ["aa bb", "cc dd", "cc dd ee", "dd ee"]);
        assert!(tfidf.terms("single").is_empty());
    }

    #[test]
    fn analyzer_lowercases_and_uses_the_token_pattern() {
        let tfidf = fit(&TfidfSettings::default(), &["Aa"]);
        assert_eq!(
            tfidf.terms("Hello, WORLD! a é-Été 42"),
            ["hello", "world", "été", "42"]
        );
        let keep_case = with(|s| {
            s.lowercase = false;
            s.token_pattern = r"(?u)\b\w+\b".to_owned();
        });
        let tfidf = fit(&keep_case, &["Aa aa a"]);
        assert_eq!(tfidf.vocabulary, ["Aa", "a", "aa"]);
    }

    #[test]
    fn one_capture_group_is_the_token() {
        let settings = with(|s| s.token_pattern = r"#(\w+)".to_owned());
        let tfidf = fit(&settings, &["see #rust and #Kiln, not plain"]);
        assert_eq!(tfidf.vocabulary, ["kiln", "rust"]);
    }

    #[test]
    fn values_match_a_hand_computation() {
        let tfidf = fit(&with(|s| s.norm = None), &["aa bb", "aa"]);
        let bb_idf = 1.5f64.ln() + 1.0;
        assert_close(&tfidf.transform_f64("aa bb bb"), &[1.0, 2.0 * bb_idf]);
        let l2 = fit(&TfidfSettings::default(), &["aa bb", "aa"]);
        let length = (1.0 + bb_idf * bb_idf).sqrt();
        assert_close(&l2.transform_f64("aa bb"), &[1.0 / length, bb_idf / length]);
    }

    #[test]
    fn sublinear_tf_uses_one_plus_log_count() {
        let settings = with(|s| {
            s.sublinear_tf = true;
            s.norm = None;
        });
        let tfidf = fit(&settings, &["aa aa aa bb"]);
        assert_close(&tfidf.idf, &[1.0, 1.0]);
        assert_close(
            &tfidf.transform_f64("aa aa aa bb"),
            &[1.0 + 3.0f64.ln(), 1.0],
        );
    }

    #[test]
    fn rows_have_unit_l2_or_l1_norm_and_zero_rows_stay_zero() {
        let docs = [
            "the cat sat on the mat",
            "the dog ate the cat",
            "dogs and cats",
        ];
        let tfidf = fit(&TfidfSettings::default(), &docs);
        for doc in docs {
            let row = tfidf.transform_f64(doc);
            let norm: f64 = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12, "{norm}");
        }
        let l1 = fit(&with(|s| s.norm = Some(Norm::L1)), &docs);
        let sum: f64 = l1.transform_f64(docs[1]).iter().map(|v| v.abs()).sum();
        assert!((sum - 1.0).abs() < 1e-12, "{sum}");
        assert!(
            tfidf
                .transform_f64("nothing known here")
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn unknown_terms_are_ignored() {
        let tfidf = fit(&TfidfSettings::default(), &["aa bb", "aa cc"]);
        assert_eq!(
            tfidf.transform_f64("zz aa qq bb"),
            tfidf.transform_f64("aa bb")
        );
    }

    #[test]
    fn transform_into_matches_f64_and_overwrites() {
        let tfidf = fit(&TfidfSettings::default(), &["aa bb", "aa cc", "dd"]);
        let mut out = vec![7.0f32; tfidf.dims()];
        tfidf.transform_into("cc aa cc", &mut out);
        let expected: Vec<f32> = tfidf
            .transform_f64("cc aa cc")
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(out, expected);
    }

    #[test]
    #[should_panic(expected = "wrong length")]
    fn transform_into_rejects_a_short_row() {
        let tfidf = fit(&TfidfSettings::default(), &["aa bb"]);
        tfidf.transform_into("aa", &mut [0.0f32; 1]);
    }

    #[test]
    fn settings_are_validated() {
        let docs = ["aa bb"];
        let check = |edit: fn(&mut TfidfSettings)| bad_setting(Tfidf::fit(&with(edit), &docs));
        assert_eq!(check(|s| s.ngram_range = (0, 1)), "ngram_range");
        assert_eq!(check(|s| s.ngram_range = (2, 1)), "ngram_range");
        assert_eq!(check(|s| s.min_df = DocFrequency::Fraction(1.5)), "min_df");
        assert_eq!(check(|s| s.min_df = DocFrequency::Count(0)), "min_df");
        assert_eq!(check(|s| s.max_df = DocFrequency::Fraction(-0.1)), "max_df");
        assert_eq!(
            check(|s| s.max_df = DocFrequency::Fraction(f64::NAN)),
            "max_df"
        );
        assert_eq!(check(|s| s.max_features = Some(0)), "max_features");
        let crossed = |s: &mut TfidfSettings| {
            s.min_df = DocFrequency::Count(2);
            s.max_df = DocFrequency::Count(1);
        };
        assert_eq!(check(crossed), "max_df");
        let message = Tfidf::fit(&with(crossed), &docs)
            .expect_err("crossed")
            .to_string();
        assert!(
            message.contains("max_df corresponds to < documents than min_df"),
            "{message}"
        );
    }

    #[test]
    fn bad_token_patterns_are_rejected() {
        for pattern in ["(", r"(\w)(\w)", r"(?<=a)b"] {
            let settings = with(|s| s.token_pattern = pattern.to_owned());
            let result = Tfidf::fit(&settings, &["aa"]);
            assert!(
                matches!(&result, Err(FeatureError::BadTokenPattern { pattern: p, .. }) if p == pattern),
                "{pattern}: {result:?}"
            );
        }
    }

    #[test]
    fn settings_from_json_tell_counts_from_fractions() {
        let json = r#"{"min_df": 2, "max_df": 0.9, "norm": "l1", "ngram_range": [1, 2]}"#;
        let settings: TfidfSettings = serde_json::from_str(json).expect("settings");
        assert_eq!(settings.min_df, DocFrequency::Count(2));
        assert_eq!(settings.max_df, DocFrequency::Fraction(0.9));
        assert_eq!(settings.norm, Some(Norm::L1));
        assert_eq!(settings.ngram_range, (1, 2));
        assert_eq!(settings.token_pattern, DEFAULT_TOKEN_PATTERN);
        let json = r#"{"min_df": 1.0, "max_df": 1, "norm": null}"#;
        let settings: TfidfSettings = serde_json::from_str(json).expect("settings");
        assert_eq!(settings.min_df, DocFrequency::Fraction(1.0));
        assert_eq!(settings.max_df, DocFrequency::Count(1));
        assert_eq!(settings.norm, None);
        let defaults: TfidfSettings = serde_json::from_str("{}").expect("defaults");
        assert_eq!(defaults, TfidfSettings::default());
        let text = serde_json::to_string(&TfidfSettings::default()).expect("to json");
        assert!(text.contains(r#""min_df":1,"max_df":1.0"#), "{text}");
    }

    #[test]
    fn fitted_vectorizer_round_trips_through_json() {
        let settings = with(|s| {
            s.ngram_range = (1, 2);
            s.min_df = DocFrequency::Count(1);
            s.max_df = DocFrequency::Fraction(0.9);
            s.sublinear_tf = true;
        });
        let tfidf = fit(&settings, &["aa bb cc", "bb cc dd", "dd ee"]);
        let json = serde_json::to_string(&tfidf).expect("to json");
        assert!(
            !json.contains("compiled") && !json.contains("index"),
            "{json}"
        );
        let back: Tfidf = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, tfidf);
        assert_eq!(
            back.transform_f64("bb cc dd zz"),
            tfidf.transform_f64("bb cc dd zz")
        );
    }

    #[test]
    fn deserialising_checks_the_parts() {
        let bad_idf = r#"{"settings": {}, "vocabulary": ["aa", "bb"], "idf": [1.0]}"#;
        let error = serde_json::from_str::<Tfidf>(bad_idf).expect_err("idf length");
        assert!(error.to_string().contains("idf"), "{error}");
        let bad_pattern =
            r#"{"settings": {"token_pattern": "("}, "vocabulary": ["aa"], "idf": [1.0]}"#;
        assert!(serde_json::from_str::<Tfidf>(bad_pattern).is_err());
        let repeated =
            Tfidf::from_parts(TfidfSettings::default(), vec!["aa".into(); 2], vec![1.0; 2]);
        assert_eq!(bad_setting(repeated), "vocabulary");
    }
}
