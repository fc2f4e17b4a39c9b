//! ONNX's text operators, for tract, which has none: `StringNormalizer` and `TfIdfVectorizer`
//! (standard ONNX) and onnxruntime's `com.microsoft.Tokenizer`, the three that skl2onnx composes
//! into a TF-IDF pipeline and that Triton's onnxruntime backend runs. Each follows its
//! specification and onnxruntime's kernel, for the attributes Kiln writes (see
//! [`super::servable`]); an attribute Kiln never writes is refused when the graph is read, so a
//! graph these cannot run exactly fails loudly rather than scoring differently.
//!
//! - `StringNormalizer`: `case_change_action` LOWER, UPPER or NONE, one code point at a time as
//!   onnxruntime's `towlower` does (so no final sigma: `ΟΔΟΣ` gives `οδοσ`, where Kiln's own
//!   TF-IDF, like Python, gives `οδος`; parity at export sees the difference); no stop words.
//! - `Tokenizer`: `tokenexp` (a regular expression in RE2 syntax, run here by the `regex` crate,
//!   which reads the syntax [`super::servable::tokenexp`] writes the same way), `mincharnum`,
//!   `mark` and `pad_value`. As in onnxruntime, whose RE2 runs with `longest_match`, each token
//!   is the longest match at the leftmost position where one starts; a match of fewer than
//!   `mincharnum` characters is skipped by one character; rows are padded to the longest, and a
//!   batch with no token at all gives a last axis of length 0.
//! - `TfIdfVectorizer`: string pools, contiguous n-grams (`max_skip_count` 0), mode `TF` (the
//!   count of each n-gram of the pool, at its `ngram_indexes` column) or `TFIDF` (the count times
//!   the n-gram's weight). The specification indexes `weights` by pool position and onnxruntime
//!   by output column, so `TFIDF` is read only where the two are the same (`ngram_indexes` is
//!   `0, 1, 2, ...`), which is the only way Kiln writes it.
//!
//! And one kernel for a standard operator whose general form in tract is slow on the small
//! graphs Kiln exports: `ArgMax` over the last axis of a `[rows, classes]` float tensor, keeping
//! the axis, with the first of equal values winning (`select_last_index` 0), as the label output
//! uses it. Any other `ArgMax` goes to tract's own.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use tract_onnx::model::{Onnx, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::{as_op, op_as_typed_op, op_out_of_plan};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_ndarray::{ArrayD, ArrayViewD, Axis};

/// tract's ONNX reader, knowing the three text operators.
pub fn onnx() -> Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert("StringNormalizer", string_normalizer);
    onnx.op_register.insert("Tokenizer", tokenizer);
    onnx.op_register.insert("TfIdfVectorizer", tfidf_vectorizer);
    onnx.op_register.insert("ArgMax", arg_max);
    onnx
}

fn arg_max(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(0);
    let keepdims: i64 = node.get_attr_opt("keepdims")?.unwrap_or(1);
    let last: i64 = node.get_attr_opt("select_last_index")?.unwrap_or(0);
    if (axis, keepdims, last) == (1, 1, 0) {
        return Ok((Box::new(RowArgMax), vec![]));
    }
    let Some(general) = tract_onnx::onnx().op_register.0.get("ArgMax").copied() else {
        bail!("tract has no ArgMax");
    };
    general(ctx, node)
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// `InferenceRulesOp::to_typed` for a one-input op that is its own typed form.
macro_rules! wired_as_itself {
    () => {
        fn to_typed(
            &self,
            _source: &InferenceModel,
            node: &InferenceNode,
            target: &mut TypedModel,
            mapping: &HashMap<OutletId, OutletId>,
        ) -> TractResult<TVec<OutletId>> {
            target.wire_node(&node.name, self.clone(), &[mapping[&node.inputs[0]]])
        }
    };
}

fn string_normalizer(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let stopwords: Vec<String> = node.get_attr_opt_vec("stopwords")?.unwrap_or_default();
    if !stopwords.is_empty() {
        bail!(
            "StringNormalizer {}: stop words are not supported",
            node.name
        );
    }
    let action: Option<String> = node.get_attr_opt("case_change_action")?;
    let case = match action.as_deref().unwrap_or("NONE") {
        "NONE" => Case::Keep,
        "LOWER" => Case::Lower,
        "UPPER" => Case::Upper,
        other => bail!(
            "StringNormalizer {}: case_change_action {other:?}",
            node.name
        ),
    };
    Ok((Box::new(StringNormalizer { case }), vec![]))
}

fn tokenizer(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let separators: Vec<String> = node.get_attr_opt_vec("separators")?.unwrap_or_default();
    if !separators.is_empty() {
        bail!(
            "Tokenizer {}: only tokenexp is supported, not separators",
            node.name
        );
    }
    let pattern: String = node.get_attr("tokenexp")?;
    let mincharnum: i64 = node.get_attr("mincharnum")?;
    if mincharnum < 1 {
        bail!("Tokenizer {}: mincharnum must be at least 1", node.name);
    }
    let mark: i64 = node.get_attr("mark")?;
    let pad: String = node.get_attr("pad_value")?;
    let tokens = ctx.template.symbols.new_with_prefix("tokens");
    let op = Tokenizer::new(pattern, mincharnum as usize, mark != 0, pad, tokens)
        .map_err(|e| format_err!("Tokenizer {}: tokenexp: {e}", node.name))?;
    Ok((Box::new(op), vec![]))
}

fn tfidf_vectorizer(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let mode: String = node.get_attr("mode")?;
    let weights: Vec<f32> = match mode.as_str() {
        "TF" => Vec::new(),
        "TFIDF" => node.get_attr_opt_vec("weights")?.unwrap_or_default(),
        _ => bail!(
            "TfIdfVectorizer {}: mode {mode} is not supported",
            node.name
        ),
    };
    let skip: i64 = node.get_attr_opt("max_skip_count")?.unwrap_or(0);
    if skip != 0 {
        bail!("TfIdfVectorizer {}: max_skip_count must be 0", node.name);
    }
    let min_n: i64 = node.get_attr("min_gram_length")?;
    let max_n: i64 = node.get_attr("max_gram_length")?;
    let pool: Vec<String> = node.get_attr_vec("pool_strings")?;
    let counts: Vec<i64> = node.get_attr_vec("ngram_counts")?;
    let indexes: Vec<i64> = node.get_attr_vec("ngram_indexes")?;
    let identity = indexes.iter().enumerate().all(|(i, &c)| c == i as i64);
    if !weights.is_empty() && (!identity || weights.len() != indexes.len()) {
        bail!(
            "TfIdfVectorizer {}: weights are read only with ngram_indexes 0, 1, 2, ... and one weight each",
            node.name
        );
    }
    let mut op = TfIdfVectorizer::new(min_n, max_n, &pool, &counts, &indexes)
        .map_err(|e| format_err!("TfIdfVectorizer {}: {e}", node.name))?;
    op.weights = weights;
    Ok((Box::new(op), vec![]))
}

/// The output fact of an op whose output has the input's shape and `datum`.
fn same_shape(
    s: &mut Solver<'_>,
    inputs: &[TensorProxy],
    outputs: &[TensorProxy],
) -> TractResult<()> {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&inputs[0].datum_type, String::datum_type())?;
    s.equals(&inputs[0].rank, &outputs[0].rank)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)?;
    Ok(())
}

fn strings(input: &TValue) -> TractResult<ArrayViewD<'_, String>> {
    input.to_plain_array_view::<String>()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl Case {
    /// `c` in this case, one code point for one as onnxruntime's `towlower`/`towupper` map it
    /// (Unicode's simple case mapping): no final sigma, `İ` to `i`, `ß` kept in upper case.
    fn simple(self, c: char) -> char {
        if c.is_ascii() {
            return match self {
                Case::Keep => c,
                Case::Lower => c.to_ascii_lowercase(),
                Case::Upper => c.to_ascii_uppercase(),
            };
        }
        let (first, second) = match self {
            Case::Keep => return c,
            Case::Lower => {
                let mut full = c.to_lowercase();
                (full.next(), full.next())
            }
            Case::Upper => {
                let mut full = c.to_uppercase();
                (full.next(), full.next())
            }
        };
        match (first, second) {
            (Some(one), None) => one,
            // İ: "i" and a combining dot; its simple lowercase is "i".
            (Some(first), Some(_)) if self == Case::Lower => first,
            _ => c,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StringNormalizer {
    case: Case,
}

impl Op for StringNormalizer {
    fn name(&self) -> StaticName {
        "StringNormalizer".into()
    }

    op_as_typed_op!();
}

impl EvalOp for StringNormalizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let out = strings(input)?.map(|s| match self.case {
            Case::Keep => s.clone(),
            Case::Lower | Case::Upper => s.chars().map(|c| self.case.simple(c)).collect(),
        });
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for StringNormalizer {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(String::datum_type().fact(inputs[0].shape.iter())))
    }
}

impl InferenceRulesOp for StringNormalizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        same_shape(s, inputs, outputs)?;
        s.equals(&outputs[0].datum_type, String::datum_type())
    }

    as_op!();

    wired_as_itself!();
}

#[derive(Debug, Clone)]
struct Tokenizer {
    pattern: String,
    /// Finds where the next token starts: the leftmost position where any match begins.
    regex: regex_automata::meta::Regex,
    /// Finds, anchored at that start, the longest match: onnxruntime's RE2 runs with
    /// `longest_match`, so `a|ab` takes `ab`, and a lazy quantifier matches as much as it can.
    longest: regex_automata::meta::Regex,
    mincharnum: usize,
    mark: bool,
    pad: String,
    /// The length of the tokens' axis, known once a batch is tokenised.
    tokens: Symbol,
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.pattern,
            self.mincharnum,
            self.mark,
            &self.pad,
            &self.tokens,
        ) == (
            &other.pattern,
            other.mincharnum,
            other.mark,
            &other.pad,
            &other.tokens,
        )
    }
}

impl Eq for Tokenizer {}

impl Tokenizer {
    fn new(
        pattern: String,
        mincharnum: usize,
        mark: bool,
        pad: String,
        tokens: Symbol,
    ) -> Result<Tokenizer, String> {
        use regex_automata::{MatchKind, meta};
        let regex = meta::Regex::new(&pattern).map_err(|e| e.to_string())?;
        let longest = meta::Regex::builder()
            .configure(meta::Config::new().match_kind(MatchKind::All))
            .build(&pattern)
            .map_err(|e| e.to_string())?;
        Ok(Tokenizer {
            pattern,
            regex,
            longest,
            mincharnum,
            mark,
            pad,
            tokens,
        })
    }

    /// The tokens of `text`, as onnxruntime's `TokenExpression` finds them: at the leftmost
    /// position where a match starts, the longest match there.
    /// Each search takes its cache from the expression's own pool: a cache made per call would
    /// cost a one-row call more than the rest of the graph.
    fn tokens<'t>(&self, text: &'t str) -> Vec<&'t str> {
        use regex_automata::{Anchored, Input};
        let mut found = Vec::new();
        let mut start = 0;
        while start <= text.len() {
            let Some(m) = self.regex.search(&Input::new(text).range(start..)) else {
                break;
            };
            let anchored = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
            let end = self
                .longest
                .search(&anchored)
                .map_or(m.end(), |l| l.end().max(m.end()));
            let token = &text[m.start()..end];
            if token.chars().count() >= self.mincharnum {
                found.push(token);
                start = end;
            } else {
                // Skip one character past the start of the short match.
                start = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
        }
        found
    }
}

impl Op for Tokenizer {
    fn name(&self) -> StaticName {
        "Tokenizer".into()
    }

    fn mints_runtime_symbols(&self) -> bool {
        true
    }

    op_as_typed_op!();
}

impl EvalOp for Tokenizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = strings(&inputs[0])?;
        let rows: Vec<Vec<&str>> = input.iter().map(|s| self.tokens(s)).collect();
        let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = if longest == 0 {
            0
        } else {
            longest + 2 * usize::from(self.mark)
        };
        let mut cells = Vec::with_capacity(rows.len() * width);
        for row in &rows {
            if width == 0 {
                break;
            }
            if self.mark {
                cells.push("\u{2}".to_owned());
            }
            cells.extend(row.iter().map(|t| (*t).to_owned()));
            if self.mark {
                cells.push("\u{3}".to_owned());
            }
            cells.extend(std::iter::repeat_n(
                self.pad.clone(),
                width - row.len() - 2 * usize::from(self.mark),
            ));
        }
        let mut shape: Vec<usize> = input.shape().to_vec();
        shape.push(width);
        let out = ArrayD::from_shape_vec(shape, cells)?;
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for Tokenizer {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.tokens.to_dim());
        Ok(tvec!(String::datum_type().fact(shape)))
    }
}

impl InferenceRulesOp for Tokenizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            for axis in 0..rank as usize {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            s.equals(&outputs[0].shape[rank as usize], self.tokens.to_dim())
        })
    }

    as_op!();

    wired_as_itself!();
}

#[derive(Debug, Clone, PartialEq)]
struct TfIdfVectorizer {
    min_n: usize,
    max_n: usize,
    /// Every token of the pool, numbered.
    ids: FxHashMap<String, u32>,
    /// The output column of each token as a 1-gram of the pool, by token number.
    unigrams: Vec<Option<usize>>,
    /// The output column of each longer n-gram of the pool, by its token numbers.
    grams: FxHashMap<Box<[u32]>, usize>,
    width: usize,
    /// Mode `TFIDF`: each output column's weight; empty for mode `TF`.
    weights: Vec<f32>,
}

// The weights are idfs, never NaN.
impl Eq for TfIdfVectorizer {}

/// The number of a token that is in no n-gram of the pool.
const UNKNOWN: u32 = u32::MAX;

impl TfIdfVectorizer {
    fn new(
        min_n: i64,
        max_n: i64,
        pool: &[String],
        counts: &[i64],
        indexes: &[i64],
    ) -> Result<TfIdfVectorizer, String> {
        if min_n < 1 || max_n < min_n {
            return Err(format!("gram lengths {min_n}..{max_n}"));
        }
        if counts.len() != max_n as usize {
            return Err(format!(
                "{} ngram_counts for grams up to {max_n}",
                counts.len()
            ));
        }
        let mut op = TfIdfVectorizer {
            min_n: min_n as usize,
            max_n: max_n as usize,
            ids: FxHashMap::default(),
            unigrams: Vec::new(),
            grams: FxHashMap::default(),
            width: indexes.iter().max().map_or(0, |&m| m as usize + 1),
            weights: Vec::new(),
        };
        let mut at = 0;
        for (n, &start) in counts.iter().enumerate() {
            let end = counts.get(n + 1).copied().unwrap_or(pool.len() as i64);
            let (start, end) = (start as usize, end as usize);
            let n = n + 1;
            if start > end || end > pool.len() || (end - start) % n != 0 {
                return Err(format!("the {n}-grams' pool slice {start}..{end}"));
            }
            for gram in pool[start..end].chunks(n) {
                let column = *indexes
                    .get(at)
                    .ok_or_else(|| format!("no ngram_indexes entry for n-gram {at}"))?;
                if column < 0 {
                    return Err(format!("ngram_indexes holds {column}"));
                }
                at += 1;
                let ids: Box<[u32]> = gram.iter().map(|t| op.number(t)).collect();
                if let [id] = *ids {
                    op.unigrams[id as usize] = Some(column as usize);
                } else {
                    op.grams.insert(ids, column as usize);
                }
            }
        }
        if at != indexes.len() {
            return Err(format!(
                "{at} n-grams in the pool and {} ngram_indexes",
                indexes.len()
            ));
        }
        Ok(op)
    }

    /// The number of pool token `token`, given one if it has none yet.
    fn number(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.unigrams.len() as u32;
        self.ids.insert(token.to_owned(), id);
        self.unigrams.push(None);
        id
    }

    fn count_row(&self, tokens: &[String], ids: &mut Vec<u32>, out: &mut [f32]) {
        ids.clear();
        ids.extend(
            tokens
                .iter()
                .map(|t| self.ids.get(t.as_str()).copied().unwrap_or(UNKNOWN)),
        );
        for n in self.min_n..=self.max_n.min(ids.len()) {
            for window in ids.windows(n) {
                if window.contains(&UNKNOWN) {
                    continue;
                }
                let column = if n == 1 {
                    self.unigrams[window[0] as usize]
                } else {
                    self.grams.get(window).copied()
                };
                if let Some(column) = column {
                    out[column] += self.weights.get(column).copied().unwrap_or(1.0);
                }
            }
        }
    }
}

impl Op for TfIdfVectorizer {
    fn name(&self) -> StaticName {
        "TfIdfVectorizer".into()
    }

    op_as_typed_op!();
}

impl EvalOp for TfIdfVectorizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = strings(&inputs[0])?;
        let (rows, shape) = match input.shape() {
            [c] => (
                input.clone().into_shape_with_order((1, *c))?,
                vec![self.width],
            ),
            [n, c] => (
                input.clone().into_shape_with_order((*n, *c))?,
                vec![*n, self.width],
            ),
            other => bail!("TfIdfVectorizer reads [C] or [N, C], not {other:?}"),
        };
        let mut out = vec![0f32; rows.nrows() * self.width];
        let mut ids = Vec::new();
        for (row, target) in rows
            .rows()
            .into_iter()
            .zip(out.chunks_mut(self.width.max(1)))
        {
            match row.as_slice() {
                Some(tokens) => self.count_row(tokens, &mut ids, target),
                None => self.count_row(&row.to_vec(), &mut ids, target),
            }
        }
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

impl TypedOp for TfIdfVectorizer {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = match inputs[0].rank() {
            1 => tvec!(self.width.to_dim()),
            2 => tvec!(inputs[0].shape[0].clone(), self.width.to_dim()),
            rank => bail!("TfIdfVectorizer reads [C] or [N, C], not rank {rank}"),
        };
        Ok(tvec!(f32::datum_type().fact(shape)))
    }
}

impl InferenceRulesOp for TfIdfVectorizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 2 {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
            }
            s.equals(&outputs[0].shape[rank as usize - 1], self.width.to_dim())
        })
    }

    as_op!();

    wired_as_itself!();
}

/// `ArgMax(axis = 1, keepdims = 1)` of a `[rows, classes]` float tensor: `[rows, 1]` indexes,
/// by Kiln's own [`crate::eval::argmax`] (the first of equal largest values wins, a NaN loses
/// to any number), so that the label is the class Kiln predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowArgMax;

impl Op for RowArgMax {
    fn name(&self) -> StaticName {
        "ArgMax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowArgMax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs[0].to_plain_array_view::<f32>()?;
        let &[rows, _] = input.shape() else {
            bail!(
                "ArgMax over axis 1 reads [rows, classes], not {:?}",
                input.shape()
            );
        };
        let out: Vec<i64> = input
            .lanes(Axis(1))
            .into_iter()
            .map(|row| match row.as_slice() {
                Some(row) => crate::eval::argmax(row) as i64,
                None => crate::eval::argmax(&row.to_vec()) as i64,
            })
            .collect();
        Ok(tvec!(Tensor::from_shape(&[rows, 1], &out)?.into_tvalue()))
    }
}

impl TypedOp for RowArgMax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if inputs[0].rank() != 2 || inputs[0].datum_type != f32::datum_type() {
            bail!(
                "ArgMax over axis 1 reads [rows, classes] floats, not {:?}",
                inputs[0]
            );
        }
        Ok(tvec!(
            i64::datum_type().fact([inputs[0].shape[0].clone(), 1.to_dim()])
        ))
    }
}

impl InferenceRulesOp for RowArgMax {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, i64::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], 1.to_dim())
    }

    as_op!();

    wired_as_itself!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(pattern: &str, mincharnum: usize) -> Tokenizer {
        let tokens = SymbolScope::default().sym("tokens");
        Tokenizer::new(pattern.into(), mincharnum, false, String::new(), tokens).expect("pattern")
    }

    #[test]
    fn the_tokenizer_skips_short_matches_by_one_character_and_pads_rows() {
        // "a" is too short; the search goes on from the next character, as onnxruntime's does.
        let t = tokenizer(r"[a-z]+", 2);
        let tokens = |t: &Tokenizer, text: &'static str| t.tokens(text);
        assert_eq!(tokens(&t, "a bc def g"), ["bc", "def"]);
        assert!(tokens(&t, "x").is_empty());
        // The longest match at the leftmost start, as RE2 with longest_match (onnxruntime's).
        assert_eq!(tokens(&tokenizer("a|ab", 1), "ab abab"), ["ab", "ab", "ab"]);
        assert_eq!(
            tokens(&tokenizer("[a-z]+|[a-z]+'[a-z]+", 1), "don't stop"),
            ["don't", "stop"]
        );
        assert_eq!(tokens(&tokenizer("a+?", 1), "aaa b"), ["aaa"]);
        let rows = tensor1(&["ab cd ef".to_string(), String::new()]);
        let out = t
            .eval(&EvalContext::out_of_plan(), tvec!(rows.into_tvalue()))
            .expect("eval");
        let out = out[0].to_plain_array_view::<String>().expect("strings");
        assert_eq!(out.shape(), [2, 3]);
        assert_eq!(
            out.iter().cloned().collect::<Vec<_>>(),
            ["ab", "cd", "ef", "", "", ""]
        );
        // No token anywhere: the tokens axis is empty.
        let empty = tensor1(&[String::new(), "!".to_string()]);
        let out = t
            .eval(&EvalContext::out_of_plan(), tvec!(empty.into_tvalue()))
            .expect("eval");
        assert_eq!(out[0].shape(), [2, 0]);
    }

    #[test]
    fn the_vectorizer_counts_pool_ngrams_at_their_columns() {
        let pool: Vec<String> = ["big", "cat", "big", "cat", "cat", "sat"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // 1-grams "big" -> 2, "cat" -> 0; 2-grams "big cat" -> 1, "cat sat" -> 3.
        let op = TfIdfVectorizer::new(1, 2, &pool, &[0, 2], &[2, 0, 1, 3]).expect("op");
        let row: Vec<String> = ["big", "cat", "sat", "big", "cat", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut out = [0f32; 4];
        op.count_row(&row, &mut Vec::new(), &mut out);
        assert_eq!(out, [2.0, 2.0, 2.0, 1.0]);
        assert!(TfIdfVectorizer::new(1, 2, &pool, &[0, 3], &[2, 0, 1, 3]).is_err());
        assert!(TfIdfVectorizer::new(1, 2, &pool, &[0, 2], &[2, 0, 1]).is_err());
    }

    #[test]
    fn argmax_takes_the_first_of_equal_largest_values() {
        let x = tensor2(&[[0.2f32, 0.5, 0.5], [0.9, 0.05, 0.05], [f32::NAN, 0.1, 0.0]]);
        let out = RowArgMax
            .eval(&EvalContext::out_of_plan(), tvec!(x.into_tvalue()))
            .expect("eval");
        let got: Vec<i64> = out[0]
            .to_plain_array_view::<i64>()
            .expect("ints")
            .iter()
            .copied()
            .collect();
        assert_eq!(got, [1, 0, 1]);
    }
}

#[cfg(test)]
mod case_tests {
    use super::*;

    #[test]
    fn lowercasing_maps_one_code_point_at_a_time_as_onnxruntime_does() {
        // onnxruntime 1.31 (C.UTF-8) gives these; Rust's to_lowercase gives "οδος" and "i̇stanbul".
        let texts = ["ΟΔΟΣ", "İstanbul", "ǅemal", "ẞ", "ÀÉÎ"].map(String::from);
        let out = StringNormalizer { case: Case::Lower }
            .eval(
                &EvalContext::out_of_plan(),
                tvec!(tensor1(&texts).into_tvalue()),
            )
            .expect("eval");
        let got: Vec<String> = out[0]
            .to_plain_array_view::<String>()
            .expect("strings")
            .iter()
            .cloned()
            .collect();
        assert_eq!(got, ["οδοσ", "istanbul", "ǆemal", "ß", "àéî"]);
    }
}
