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
//! - `Tokenizer`: `tokenexp` (a regular expression in RE2 syntax, run here by `regex-automata`,
//!   which reads the syntax [`super::servable::tokenexp`] writes the same way; a pattern that is
//!   one class repeated, as the default is, is read as runs of the class's characters), `mincharnum`,
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
//! And kernels for two standard operators whose general forms in tract are slow on the small
//! graphs Kiln exports, where each row holds a few classes:
//! - `ArgMax` over the last axis of a `[rows, classes]` float tensor, keeping the axis, with the
//!   first of equal values winning (`select_last_index` 0), as the label output uses it;
//! - `Softmax` over the last axis (`axis` -1, which every opset reads the same way) of a float
//!   tensor, as the probabilities output uses it: tract runs its vector kernels once per row,
//!   which costs more than the row when it holds three classes.
//!
//! - `Where` whose condition has the output's shape and whose two branches each have it too or
//!   hold one value (as the imputation of a missing number uses it): tract's general form zips
//!   broadcast views element by element. Any other `Where` runs tract's own kernel, in the same
//!   node.
//! - `ai.onnx.ml.CategoryMapper`, one hash table lookup per value with strings hashed by FxHash
//!   (tract hashes each with SipHash, then looks the index up again), and an index straight into
//!   the categories where they are numbered `0, 1, 2, ...`, as the label output numbers them.
//!
//! Any other `ArgMax` or `Softmax` goes to tract's own.
//!
//! Once tract has optimised a graph, [`fuse`] joins two pairs of nodes that a TF-IDF block
//! chains, so that no intermediate is made: a `Tokenizer` read only by a `TfIdfVectorizer`
//! counts the n-grams of its tokens without making a string of each, and the squares of a
//! `[rows, columns]` float tensor summed over the columns (the L2 norm) are summed in one pass.

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
    onnx.op_register.insert("Softmax", softmax);
    onnx.op_register
        .insert("Where", |_, _| Ok((expand(FastWhere), vec![])));
    onnx.op_register.insert("CategoryMapper", category_mapper);
    onnx
}

/// Fuses, in a graph tract has optimised, each `Tokenizer` read only by a `TfIdfVectorizer`
/// (without marks, and with a padding that is no n-gram of the pool, as Kiln writes them) into
/// one [`TokenCounts`], and each `Square` read only by a sum over the last axis of a
/// `[rows, columns]` float tensor into one [`RowSumOfSquares`].
pub(crate) fn fuse(model: &mut TypedModel) -> TractResult<()> {
    // One pair at a time: a patch names nodes by their place, which the previous one changes.
    while let Some(patch) = fusion(model)? {
        patch.apply(model)?;
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(())
}

/// The patch that fuses the first pair [`fuse`] fuses, if any.
fn fusion(model: &TypedModel) -> TractResult<Option<TypedModelPatch>> {
    use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
    use tract_onnx::tract_core::ops::math::Square;
    use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};
    for node in model.nodes() {
        let Some(next) = model.single_succ(node.id)? else {
            continue;
        };
        let input = node
            .inputs
            .first()
            .map(|&i| model.outlet_fact(i))
            .transpose()?;
        if let (Some(tokenizer), Some(vectorizer)) =
            (node.op_as::<Tokenizer>(), next.op_as::<TfIdfVectorizer>())
            && !tokenizer.mark
            && !vectorizer.ids.contains_key(tokenizer.pad.as_str())
            && input.is_some_and(|f| f.rank() == 1)
        {
            let op = TokenCounts {
                tokenizer: tokenizer.clone(),
                vectorizer: vectorizer.clone(),
            };
            return TypedModelPatch::fuse_with_next(model, node, op).map(Some);
        }
        if node
            .op_as::<ElementWiseOp>()
            .is_some_and(|e| e.0.is::<Square>())
            && input.is_some_and(|f| f.rank() == 2 && f.datum_type == f32::datum_type())
            && next
                .op_as::<Reduce>()
                .is_some_and(|r| r.reducer == Reducer::Sum && r.axes.as_slice() == [1])
        {
            return TypedModelPatch::fuse_with_next(model, node, RowSumOfSquares).map(Some);
        }
    }
    Ok(None)
}

fn category_mapper(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let op = CategoryMapper::new(
        &node.get_attr_vec::<i64>("cats_int64s")?,
        node.get_attr_vec("cats_strings")?,
        node.get_attr_opt("default_int64")?,
        node.get_attr_opt("default_string")?,
    )
    .map_err(|why| format_err!("CategoryMapper {}: {why}", node.name))?;
    Ok((Box::new(op), vec![]))
}

impl CategoryMapper {
    /// The mapper the attributes describe: strings to integers where `default_int` is given,
    /// integers to strings where `default_string` is.
    fn new(
        ints: &[i64],
        strings: Vec<String>,
        default_int: Option<i64>,
        default_string: Option<String>,
    ) -> Result<CategoryMapper, String> {
        if ints.len() != strings.len() {
            return Err(format!(
                "{} integers for {} strings",
                ints.len(),
                strings.len()
            ));
        }
        let direction = match (default_int, default_string) {
            (Some(fallback), None) => {
                let mut index = FxHashMap::default();
                for (s, &i) in strings.into_iter().zip(ints) {
                    index.entry(s).or_insert(i);
                }
                Mapping::ToInt { index, fallback }
            }
            (None, Some(fallback)) => {
                let numbered = ints.iter().enumerate().all(|(k, &i)| i == k as i64);
                let mut index = FxHashMap::default();
                if !numbered {
                    for (k, &i) in ints.iter().enumerate() {
                        index.entry(i).or_insert(k);
                    }
                }
                Mapping::ToString {
                    strings,
                    index,
                    numbered,
                    fallback,
                }
            }
            other => {
                return Err(format!(
                    "needs exactly one of default_int64 and default_string (found {other:?})"
                ));
            }
        };
        Ok(CategoryMapper(std::sync::Arc::new(direction)))
    }
}

fn softmax(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let axis: Option<i64> = node.get_attr_opt("axis")?;
    if axis == Some(-1) {
        return Ok((Box::new(LastAxisSoftmax), vec![]));
    }
    let Some(general) = tract_onnx::onnx().op_register.0.get("Softmax").copied() else {
        bail!("tract has no Softmax");
    };
    general(ctx, node)
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

/// `Op` for an op that is its own typed form, named `$name`.
macro_rules! named_op {
    ($op:ty, $name:literal) => {
        impl Op for $op {
            fn name(&self) -> StaticName {
                $name.into()
            }

            op_as_typed_op!();
        }
    };
}

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

named_op!(StringNormalizer, "StringNormalizer");

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
    /// Where the pattern is one class repeated (`\w\w+`, the default, is), what it matches:
    /// the whole of every run of the class's characters at least this long.
    runs: Option<Runs>,
    mincharnum: usize,
    mark: bool,
    pad: String,
    /// The length of the tokens' axis, known once a batch is tokenised.
    tokens: Symbol,
}

/// A pattern that is one character class, repeated at least `min` times with no upper bound.
/// At the leftmost start the longest match is then the whole run of the class's characters, and
/// a run shorter than `mincharnum` has no suffix long enough either: the tokens are the runs at
/// least `max(min, mincharnum)` characters long.
#[derive(Debug, Clone)]
struct Runs {
    /// Whether each ASCII character is in the class.
    ascii: [bool; 128],
    /// The class's ranges, sorted, for the others.
    ranges: Vec<(char, char)>,
    min: usize,
}

impl Runs {
    /// The runs `pattern` stands for, if it is one class repeated.
    fn of(pattern: &str) -> Option<Runs> {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        let items = match hir.kind() {
            HirKind::Concat(items) => items.as_slice(),
            _ => std::slice::from_ref(&hir),
        };
        let mut class = None;
        let (mut min, mut unbounded) = (0usize, false);
        for item in items {
            let (sub, times, open) = match item.kind() {
                HirKind::Class(_) => (item, 1, false),
                HirKind::Repetition(r) => (&*r.sub, r.min, r.max.is_none()),
                _ => return None,
            };
            let HirKind::Class(Class::Unicode(c)) = sub.kind() else {
                return None;
            };
            if class.get_or_insert(c) != &c {
                return None;
            }
            min += usize::try_from(times).ok()?;
            unbounded |= open;
        }
        let class = class?;
        if !unbounded || min == 0 {
            return None;
        }
        let ranges: Vec<(char, char)> = class.iter().map(|r| (r.start(), r.end())).collect();
        let mut ascii = [false; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            let c = c as u8 as char;
            *slot = ranges.iter().any(|&(a, b)| a <= c && c <= b);
        }
        Some(Runs { ascii, ranges, min })
    }

    fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            return self.ascii[c as usize];
        }
        self.ranges
            .binary_search_by(|&(a, b)| {
                if b < c {
                    std::cmp::Ordering::Less
                } else if a > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// The runs of `text` at least `least` characters long.
    fn tokens<'t>(&self, text: &'t str, least: usize, found: &mut Vec<&'t str>) {
        let least = least.max(self.min);
        let mut run: Option<(usize, usize)> = None;
        for (at, c) in text.char_indices() {
            if self.contains(c) {
                match &mut run {
                    Some((_, chars)) => *chars += 1,
                    None => run = Some((at, 1)),
                }
            } else if let Some((start, chars)) = run.take()
                && chars >= least
            {
                found.push(&text[start..at]);
            }
        }
        if let Some((start, chars)) = run
            && chars >= least
        {
            found.push(&text[start..]);
        }
    }
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
            runs: Runs::of(&pattern),
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
        let mut found = Vec::new();
        match &self.runs {
            Some(runs) => runs.tokens(text, self.mincharnum, &mut found),
            None => self.search(text, &mut found),
        }
        found
    }

    /// [`Tokenizer::tokens`] by searching with the expression.
    fn search<'t>(&self, text: &'t str, found: &mut Vec<&'t str>) {
        use regex_automata::{Anchored, Input};
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

    fn count_row<S: AsRef<str>>(&self, tokens: &[S], ids: &mut Vec<u32>, out: &mut [f32]) {
        ids.clear();
        ids.extend(
            tokens
                .iter()
                .map(|t| self.ids.get(t.as_ref()).copied().unwrap_or(UNKNOWN)),
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

named_op!(TfIdfVectorizer, "TfIdfVectorizer");

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
        Ok(tvec!(
            Tensor::from(ArrayD::from_shape_vec(shape, out)?).into_tvalue()
        ))
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

named_op!(RowArgMax, "ArgMax");

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

/// `Softmax(axis = -1)` of a float tensor: each run of the last axis becomes
/// `exp(x - max) / sum`, computed as onnxruntime's kernel does (the exponentials, their sum, then
/// one multiplication by its reciprocal).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LastAxisSoftmax;

named_op!(LastAxisSoftmax, "Softmax");

impl EvalOp for LastAxisSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut output = inputs
            .into_iter()
            .next()
            .context("Softmax reads one input")?;
        let width = output.shape().last().copied().unwrap_or(1);
        let mut tensor = output.into_tensor();
        if width > 0 {
            let mut plain = tensor.try_as_plain_ram_mut()?;
            for row in plain.as_slice_mut::<f32>()?.chunks_mut(width) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let scale = sum.recip();
                row.iter_mut().for_each(|x| *x *= scale);
            }
        }
        output = tensor.into_tvalue();
        Ok(tvec!(output))
    }
}

impl TypedOp for LastAxisSoftmax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if inputs[0].datum_type != f32::datum_type() || inputs[0].rank() == 0 {
            bail!(
                "Softmax over the last axis reads floats, not {:?}",
                inputs[0]
            );
        }
        Ok(tvec!(f32::datum_type().fact(inputs[0].shape.clone())))
    }
}

impl InferenceRulesOp for LastAxisSoftmax {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
    }

    as_op!();

    wired_as_itself!();
}

/// A `Tokenizer` and the `TfIdfVectorizer` that reads its tokens, in one: `[rows]` texts in,
/// `[rows, columns]` counts out, as the two give them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokenCounts {
    tokenizer: Tokenizer,
    vectorizer: TfIdfVectorizer,
}

named_op!(TokenCounts, "TokenCounts");

impl EvalOp for TokenCounts {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = strings(&inputs[0])?;
        let &[rows] = input.shape() else {
            bail!("TokenCounts reads [rows], not {:?}", input.shape());
        };
        let width = self.vectorizer.width;
        let mut out = vec![0f32; rows * width];
        let mut ids = Vec::new();
        if width > 0 {
            for (text, target) in input.iter().zip(out.chunks_mut(width)) {
                let tokens = self.tokenizer.tokens(text);
                self.vectorizer.count_row(&tokens, &mut ids, target);
            }
        }
        Ok(tvec!(
            Tensor::from(ArrayD::from_shape_vec(vec![rows, width], out)?).into_tvalue()
        ))
    }
}

impl TypedOp for TokenCounts {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if inputs[0].rank() != 1 {
            bail!("TokenCounts reads [rows], not {:?}", inputs[0]);
        }
        Ok(tvec!(f32::datum_type().fact([
            inputs[0].shape[0].clone(),
            self.vectorizer.width.to_dim()
        ])))
    }
}

/// The sum of the squares of each row of a `[rows, columns]` float tensor: `[rows, 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowSumOfSquares;

named_op!(RowSumOfSquares, "RowSumOfSquares");

impl EvalOp for RowSumOfSquares {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs[0].to_plain_array_view::<f32>()?;
        let &[rows, columns] = input.shape() else {
            bail!(
                "RowSumOfSquares reads [rows, columns], not {:?}",
                input.shape()
            );
        };
        let sums: Vec<f32> = match input.as_slice() {
            Some(values) if columns > 0 => values.chunks(columns).map(sum_of_squares).collect(),
            _ => input
                .rows()
                .into_iter()
                .map(|row| row.iter().map(|x| x * x).sum())
                .collect(),
        };
        Ok(tvec!(Tensor::from_shape(&[rows, 1], &sums)?.into_tvalue()))
    }
}

impl TypedOp for RowSumOfSquares {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if inputs[0].rank() != 2 || inputs[0].datum_type != f32::datum_type() {
            bail!(
                "RowSumOfSquares reads [rows, columns] floats, not {:?}",
                inputs[0]
            );
        }
        Ok(tvec!(
            f32::datum_type().fact([inputs[0].shape[0].clone(), 1.to_dim()])
        ))
    }
}

/// The sum of the squares of `row`, in eight lanes that the compiler can keep in one vector.
fn sum_of_squares(row: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane += x * x;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
    lanes.iter().sum::<f32>() + tail
}

/// ONNX `Where`, inferred and wired as tract wires it, with the resulting node running
/// [`BroadcastWhere`].
#[derive(Debug, Clone)]
struct FastWhere;

impl Expansion for FastWhere {
    fn name(&self) -> StaticName {
        "Where".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        tract_onnx::tract_hir::ops::logic::Iff.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let wired = tract_onnx::tract_hir::ops::logic::Iff.wire(prefix, model, inputs)?;
        let node = model.node_mut(wired[0].node);
        if node.op_is::<tract_onnx::tract_core::ops::logic::Iff>() {
            node.op = Box::new(BroadcastWhere);
        }
        Ok(wired)
    }
}

/// tract's `Iff`, with a straight loop where the condition has the output's shape and each
/// branch has it too or holds one value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BroadcastWhere;

impl BroadcastWhere {
    fn straight<T: Datum + Copy>(cond: &[bool], t: &Tensor, f: &Tensor) -> TractResult<Tensor> {
        let t = t.try_as_plain_ram()?;
        let f = f.try_as_plain_ram()?;
        let (t, f) = (t.as_slice::<T>()?, f.as_slice::<T>()?);
        let pick = |values: &[T], i: usize| {
            if values.len() == 1 {
                values[0]
            } else {
                values[i]
            }
        };
        let out: Vec<T> = cond
            .iter()
            .enumerate()
            .map(|(i, &c)| if c { pick(t, i) } else { pick(f, i) })
            .collect();
        Ok(Tensor::from(
            tract_onnx::tract_hir::tract_ndarray::Array1::from(out),
        ))
    }
}

named_op!(BroadcastWhere, "Iff");

impl EvalOp for BroadcastWhere {
    op_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let shape = tract_onnx::tract_core::broadcast::multi_broadcast(&[
            inputs[0].shape(),
            inputs[1].shape(),
            inputs[2].shape(),
        ])?;
        let len = inputs[0].len();
        let fits = |t: &TValue| t.len() == 1 || t.shape() == &*shape;
        if inputs[0].shape() == &*shape
            && fits(&inputs[1])
            && fits(&inputs[2])
            && inputs[1].datum_type() == inputs[2].datum_type()
            && len > 0
        {
            let cond = inputs[0].try_as_plain_ram()?;
            let cond = cond.as_slice::<bool>()?;
            let out = match inputs[1].datum_type() {
                DatumType::F32 => Some(Self::straight::<f32>(cond, &inputs[1], &inputs[2])?),
                DatumType::I64 => Some(Self::straight::<i64>(cond, &inputs[1], &inputs[2])?),
                _ => None,
            };
            if let Some(out) = out {
                return Ok(tvec!(out.into_shape(&shape)?.into_tvalue()));
            }
        }
        tract_onnx::tract_core::ops::logic::Iff.eval(ctx, inputs)
    }
}

impl TypedOp for BroadcastWhere {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        tract_onnx::tract_core::ops::logic::Iff.output_facts(inputs)
    }
}

/// Which way a [`CategoryMapper`] maps.
#[derive(Debug, PartialEq, Eq)]
enum Mapping {
    /// Strings to their integers; `fallback` for any other string.
    ToInt {
        index: FxHashMap<String, i64>,
        fallback: i64,
    },
    /// Integers to their strings: the integer's position in `index`, or the integer itself
    /// where the integers are `0, 1, 2, ...` (`numbered`); `fallback` for any other integer.
    ToString {
        strings: Vec<String>,
        index: FxHashMap<i64, usize>,
        numbered: bool,
        fallback: String,
    },
}

/// `ai.onnx.ml.CategoryMapper`: strings to integers, or integers to strings, as the two lists of
/// categories pair them; the first of repeated keys wins.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CategoryMapper(std::sync::Arc<Mapping>);

named_op!(CategoryMapper, "CategoryMapper");

impl EvalOp for CategoryMapper {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let out = match &*self.0 {
            Mapping::ToInt { index, fallback } => {
                let values = input.to_plain_array_view::<String>()?;
                let out: Vec<i64> = values
                    .iter()
                    .map(|v| index.get(v).copied().unwrap_or(*fallback))
                    .collect();
                Tensor::from_shape(input.shape(), &out)?
            }
            Mapping::ToString {
                strings,
                index,
                numbered,
                fallback,
            } => {
                let values = input.to_plain_array_view::<i64>()?;
                let out: Vec<String> = values
                    .iter()
                    .map(|&v| {
                        let at = if *numbered {
                            usize::try_from(v).ok()
                        } else {
                            index.get(&v).copied()
                        };
                        at.and_then(|k| strings.get(k)).unwrap_or(fallback).clone()
                    })
                    .collect();
                Tensor::from(ArrayD::from_shape_vec(input.shape(), out)?)
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl CategoryMapper {
    /// The datum types read and written.
    fn types(&self) -> (DatumType, DatumType) {
        match &*self.0 {
            Mapping::ToInt { .. } => (String::datum_type(), i64::datum_type()),
            Mapping::ToString { .. } => (i64::datum_type(), String::datum_type()),
        }
    }
}

impl TypedOp for CategoryMapper {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (from, to) = self.types();
        if inputs[0].datum_type != from {
            bail!(
                "CategoryMapper reads {from:?}, not {:?}",
                inputs[0].datum_type
            );
        }
        Ok(tvec!(to.fact(inputs[0].shape.clone())))
    }
}

impl InferenceRulesOp for CategoryMapper {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        let (from, to) = self.types();
        s.equals(&inputs[0].datum_type, from)?;
        s.equals(&outputs[0].datum_type, to)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
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

    /// Texts that mix what a token pattern tells apart: ASCII, digits, punctuation, accents,
    /// combining marks, Greek, CJK, emoji and joiners, several kinds of space.
    fn texts() -> impl proptest::strategy::Strategy<Value = String> {
        let pieces = proptest::sample::select(vec![
            "a", "Zq", "x1", "42", "_", "'", "-", " ", "  ", "\t", "\n", "é", "e\u{301}", "ΟΔΟΣ",
            "東京", "ß", "İ", "\u{200d}", "👍", "Ⓐ", "ǅ", "Ⅻ", "…", "\u{a0}", ".", "don't",
        ]);
        proptest::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn runs_find_what_the_expression_finds(text in texts(), least in 1usize..5) {
            let default = crate::export::servable::tokenexp(
                crate::features::tfidf::DEFAULT_TOKEN_PATTERN,
            )
            .expect("the default pattern translates");
            for pattern in [default.as_str(), r"[a-z]+", r"\w{3,}", r"(?i)[a-z][a-z]+", r"\d\d+"] {
                let t = tokenizer(pattern, least);
                let runs = t.runs.as_ref().expect("one class repeated");
                let (mut fast, mut searched) = (Vec::new(), Vec::new());
                runs.tokens(&text, least, &mut fast);
                t.search(&text, &mut searched);
                prop_assert_eq!(fast, searched, "pattern {}", pattern);
            }
        }
    }

    #[test]
    fn only_one_class_repeated_without_bound_reads_as_runs() {
        for pattern in [r"\w+", r"[a-z][a-z]+", r"\w\w{2,}"] {
            assert!(tokenizer(pattern, 1).runs.is_some(), "{pattern}");
        }
        for pattern in [
            "a|ab",
            r"[a-z]+'[a-z]+",
            r"\w{2,5}",
            r"\w*",
            r"\w\d+",
            r"^\w+",
            r"\w+\b",
        ] {
            assert!(tokenizer(pattern, 1).runs.is_none(), "{pattern}");
        }
    }

    #[test]
    fn token_counts_equal_the_tokenizer_then_the_vectorizer() {
        let pool: Vec<String> = ["big", "cat", "big", "cat", "cat", "sat"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vectorizer = TfIdfVectorizer::new(1, 2, &pool, &[0, 2], &[2, 0, 1, 3]).expect("op");
        let texts: Vec<String> = ["big cat sat; big cat", "", "cat", "sat sat big", "!!"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for pattern in [r"[a-z]+", "a|[a-z]+"] {
            let t = tokenizer(pattern, 1);
            let ctx = EvalContext::out_of_plan();
            let tokens = t
                .eval(&ctx, tvec!(tensor1(&texts).into_tvalue()))
                .expect("tokens");
            let two = vectorizer.eval(&ctx, tokens).expect("counts");
            let fused = TokenCounts {
                tokenizer: t.clone(),
                vectorizer: vectorizer.clone(),
            }
            .eval(&ctx, tvec!(tensor1(&texts).into_tvalue()))
            .expect("fused");
            assert_eq!(fused[0].shape(), [5, 4]);
            assert_eq!(fused[0], two[0], "{pattern}");
        }
    }

    #[test]
    fn row_sums_of_squares_add_every_column() {
        for columns in [1usize, 7, 8, 9, 31] {
            let values: Vec<f32> = (0..3 * columns).map(|i| (i % 5) as f32 - 1.5).collect();
            let x = Tensor::from_shape(&[3, columns], &values).expect("tensor");
            let out = RowSumOfSquares
                .eval(&EvalContext::out_of_plan(), tvec!(x.into_tvalue()))
                .expect("eval");
            let got = out[0].to_plain_array_view::<f32>().expect("floats");
            assert_eq!(got.shape(), [3, 1]);
            for (row, sum) in values.chunks(columns).zip(got.iter()) {
                let want: f32 = row.iter().map(|x| x * x).sum();
                assert!((sum - want).abs() <= 1e-5 * want.max(1.0), "{sum} {want}");
            }
        }
    }

    #[test]
    fn the_category_mapper_maps_both_ways_with_its_fallback() {
        let mapper = |cats: &[&str], ints: &[i64], default_int: Option<i64>| {
            let strings = cats.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let default_string = default_int.is_none().then(|| "?".to_string());
            CategoryMapper::new(ints, strings, default_int, default_string).expect("mapper")
        };
        let ctx = EvalContext::out_of_plan();
        let to_int = mapper(&["Adelie", "Gentoo", "Adelie"], &[0, 1, 2], Some(-1));
        let input = tensor2(&[["Gentoo".to_string()], ["".into()], ["Adelie".into()]]);
        let out = to_int.eval(&ctx, tvec!(input.into_tvalue())).expect("eval");
        assert_eq!(out[0], tensor2(&[[1i64], [-1], [0]]).into_tvalue());
        for ints in [[0i64, 1, 2], [5, 9, 7]] {
            let to_string = mapper(&["a", "b", "c"], &ints, None);
            let input = tensor1(&[ints[2], 3, ints[0], -1]);
            let out = to_string
                .eval(&ctx, tvec!(input.into_tvalue()))
                .expect("eval");
            let got: Vec<String> = out[0]
                .to_plain_array_view::<String>()
                .expect("strings")
                .iter()
                .cloned()
                .collect();
            assert_eq!(got, ["c", "?", "a", "?"], "{ints:?}");
        }
    }

    #[test]
    fn where_gives_what_tracts_own_gives() {
        use tract_onnx::tract_core::ops::logic::Iff;
        let ctx = EvalContext::out_of_plan();
        let cases: Vec<[Tensor; 3]> = vec![
            [
                tensor2(&[[true], [false], [true]]),
                tensor2(&[[0f32]]),
                tensor2(&[[1f32], [2.0], [3.0]]),
            ],
            [
                tensor2(&[[true, false], [false, true]]),
                tensor2(&[[1i64, 2], [3, 4]]),
                tensor0(9i64),
            ],
            // Broadcast condition: tract's own kernel runs it.
            [
                tensor2(&[[true, false]]),
                tensor2(&[[1f32, 2.0], [3.0, 4.0]]),
                tensor2(&[[7f32], [8.0]]),
            ],
        ];
        for [c, t, f] in cases {
            let inputs = || {
                tvec!(
                    c.clone().into_tvalue(),
                    t.clone().into_tvalue(),
                    f.clone().into_tvalue()
                )
            };
            let ours = BroadcastWhere.eval(&ctx, inputs()).expect("ours");
            let tracts = Iff.eval(&ctx, inputs()).expect("tract's");
            assert_eq!(ours[0], tracts[0]);
        }
    }

    #[test]
    fn softmax_over_the_last_axis_sums_each_row_to_one() {
        let x = tensor2(&[[1f32, 2.0, 3.0], [-1000.0, 0.0, 1000.0], [0.5, 0.5, 0.5]]);
        let out = LastAxisSoftmax
            .eval(&EvalContext::out_of_plan(), tvec!(x.clone().into_tvalue()))
            .expect("eval");
        let got = out[0].to_plain_array_view::<f32>().expect("floats");
        let x = x.to_plain_array_view::<f32>().expect("floats");
        for (row, probs) in x.rows().into_iter().zip(got.rows()) {
            let max = row
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(v)));
            let exps: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            for (p, e) in probs.iter().zip(&exps) {
                assert!(
                    (f64::from(*p) - e / total).abs() < 1e-6,
                    "{p} {}",
                    e / total
                );
            }
        }
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
